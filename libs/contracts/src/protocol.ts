/** Protocol v1 constants shared by the edge agent and the control plane. */
export const PROTOCOL_VERSION = 1 as const;

/** Largest MQTT payload the control plane accepts; bigger snapshots go over gRPC AgentSync. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

export const UPLINK_STREAMS = ['inventory', 'health', 'flows', 'events', 'jobs/progress'] as const;
export type UplinkStream = (typeof UPLINK_STREAMS)[number];

export const COMMAND_KINDS = ['ack', 'jobs', 'config'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** The envelope `type` each uplink stream carries in v1. */
export const MESSAGE_TYPES = {
  inventory: 'inventory.snapshot',
  health: 'health.report',
  seqGap: 'agent.seq_gap',
  recovered: 'agent.recovered',
  configApplied: 'agent.config_applied',
  configRejected: 'agent.config_rejected',
  ack: 'cmd.ack',
  config: 'cmd.config',
  workOrder: 'cmd.work_order',
  jobProgress: 'job.progress',
} as const;
