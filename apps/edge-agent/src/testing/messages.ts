/** Outbox messages as the agent makes them (real envelopes), for outbox and delivery tests and the benchmark. */
import {
  encodeEnvelope,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  uplinkTopic,
  type AgentAddress,
  type DeviceReport,
  type HealthBody,
  type SeqGapBody,
} from '@medfleet/contracts';
import type { OutboxMessage } from '../outbox.js';

export const HEALTH_BODY: HealthBody = {
  agentVersion: '0.1.0',
  uptimeSec: 1234,
  cpuPercent: 0.4,
  memoryRssBytes: 48_000_000,
  loadAverage: [0.1, 0.2, 0.3],
  diskFreeBytes: 10_000_000_000,
  outboxDepth: 12,
  lastAckedSeq: 345,
  devicesKnown: 200,
};

export function messageFactory(address: AgentAddress) {
  const header = (seq: number) =>
    ({ v: PROTOCOL_VERSION, agentId: address.agentId, seq, sentAt: new Date().toISOString() }) as const;
  return {
    health: (seq: number): OutboxMessage => ({
      seq,
      stream: 'health',
      topic: uplinkTopic(address, 'health'),
      payload: encodeEnvelope({ ...header(seq), type: MESSAGE_TYPES.health, body: HEALTH_BODY }),
    }),
    inventory: (seq: number, complete = true, devices: DeviceReport[] = []): OutboxMessage => ({
      seq,
      stream: 'inventory',
      topic: uplinkTopic(address, 'inventory'),
      payload: encodeEnvelope({ ...header(seq), type: MESSAGE_TYPES.inventory, body: { complete, devices } }),
    }),
    gapReport: (seq: number, body: SeqGapBody): OutboxMessage => ({
      seq,
      stream: 'events',
      topic: uplinkTopic(address, 'events'),
      payload: encodeEnvelope({ ...header(seq), type: MESSAGE_TYPES.seqGap, body }),
    }),
  };
}
