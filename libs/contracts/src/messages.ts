/** Message schemas of protocol v1: the envelope and the bodies of the streams the agent publishes. */
import { z } from 'zod';
import {
  agentConfigSchema,
  COLLECTOR_NAMES,
  configAppliedBodySchema,
  configRejectedBodySchema,
} from './agent-config.js';
import { deviceReportSchema } from './device.js';
import { MAX_PAYLOAD_BYTES, MESSAGE_TYPES, PROTOCOL_VERSION } from './protocol.js';
import type { JobProgressEnvelope, WorkOrderEnvelope } from './work-order.js';

const uuid = z.uuid();
/** W3C trace context `traceparent` header value. */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const inventoryBodySchema = z.strictObject({
  /** True when the list is the agent's whole view of its site, not a delta. */
  complete: z.boolean(),
  devices: z.array(deviceReportSchema).max(2000),
});
export type InventoryBody = z.infer<typeof inventoryBodySchema>;

const isoTime = z.iso.datetime({ offset: true });
/** Ten years in ms: a clock further off than that is broken, not skewed. */
const MAX_CLOCK_OFFSET_MS = 10 * 365 * 24 * 3600 * 1000;

/** What one collector is doing, as its agent sees it. */
export const collectorStateSchema = z.strictObject({
  name: z.enum(COLLECTOR_NAMES),
  enabled: z.boolean(),
  /** Enabled and scheduled on this agent (false for one the agent does not implement). */
  running: z.boolean(),
  lastRunAt: isoTime.optional(),
  /** The error of the last run, absent when it succeeded. */
  lastError: z.string().min(1).max(500).optional(),
});
export type CollectorState = z.infer<typeof collectorStateSchema>;

/**
 * Fields added after the first v1 agents are optional, so their reports still decode; `uptimeSec`,
 * `cpuPercent` and `memoryRssBytes` are the agent process's own, the `host*` ones the machine's.
 */
export const healthBodySchema = z.strictObject({
  agentVersion: z.string().min(1).max(64),
  uptimeSec: z.number().nonnegative(),
  hostUptimeSec: z.number().nonnegative().optional(),
  cpuPercent: z
    .number()
    .min(0)
    .max(100 * 256),
  /** Busy share of all the host's cores since the previous report, 0–100. */
  hostCpuPercent: z.number().min(0).max(100).optional(),
  memoryRssBytes: z.number().int().nonnegative(),
  memoryTotalBytes: z.number().int().nonnegative().optional(),
  memoryAvailableBytes: z.number().int().nonnegative().optional(),
  loadAverage: z.array(z.number().nonnegative()).length(3),
  /** Free and total space where the agent keeps its state and outbox. */
  diskFreeBytes: z.number().int().nonnegative().optional(),
  diskTotalBytes: z.number().int().nonnegative().optional(),
  /**
   * Control-plane clock minus agent clock, estimated NTP-style from acks (positive: the agent is behind).
   * Absent until an ack with server times arrived.
   */
  clockOffsetMs: z.number().min(-MAX_CLOCK_OFFSET_MS).max(MAX_CLOCK_OFFSET_MS).optional(),
  /** Round trip of the exchange the offset comes from; the offset is good to about half of it. */
  clockRttMs: z.number().nonnegative().max(MAX_CLOCK_OFFSET_MS).optional(),
  outboxDepth: z.number().int().nonnegative(),
  /** Age of the oldest message still waiting for its ack (absent when none waits). */
  outboxOldestAgeSec: z.number().nonnegative().optional(),
  lastAckedSeq: z.number().int().nonnegative(),
  devicesKnown: z.number().int().nonnegative(),
  collectors: z.array(collectorStateSchema).max(32).optional(),
  /** The config version the agent runs (0: the one it enrolled with). */
  configVersion: z.number().int().nonnegative().max(2_147_483_647).optional(),
});
export type HealthBody = z.infer<typeof healthBodySchema>;

/** Largest number of seqs one gap report may declare. */
export const MAX_GAP_SEQS = 100_000;

/**
 * On the `events` stream: seqs the agent issued but will never deliver (lost with an in-memory queue on a
 * restart, or evicted when its outbox was full). The control plane records them as skipped so its
 * contiguous ack can move past them; nothing else about them is known.
 */
export const seqGapBodySchema = z
  .strictObject({
    reason: z.enum(['lost_on_restart', 'evicted']),
    ranges: z
      .array(
        z.strictObject({
          fromSeq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
          toSeq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        }),
      )
      .min(1)
      .max(1000),
  })
  .refine(
    (body) => body.ranges.every((range) => range.toSeq >= range.fromSeq),
    'each range needs toSeq >= fromSeq',
  )
  .refine(
    (body) => body.ranges.reduce((sum, range) => sum + range.toSeq - range.fromSeq + 1, 0) <= MAX_GAP_SEQS,
    `a gap report covers at most ${MAX_GAP_SEQS} seqs`,
  );
export type SeqGapBody = z.infer<typeof seqGapBodySchema>;

/**
 * On the `events` stream: the agent started after an unclean shutdown (its previous run never stopped
 * cleanly: a crash, a kill, or a power cut). The first step of post-storm verification.
 */
export const agentRecoveredBodySchema = z.strictObject({
  reason: z.literal('unclean_shutdown'),
  /** True when the machine itself restarted since (power loss, hardware watchdog), false when only the process died. */
  rebooted: z.boolean(),
  previousStartedAt: z.iso.datetime({ offset: true }).optional(),
  detectedAt: z.iso.datetime({ offset: true }),
});
export type AgentRecoveredBody = z.infer<typeof agentRecoveredBodySchema>;

export const ackBodySchema = z.strictObject({
  /** Highest contiguous seq of this agent the control plane has committed. */
  ackedSeq: z.number().int().nonnegative(),
  /**
   * The message this ack answers and when the control plane received it: with the envelope's `sentAt`
   * (when the ack left) the agent estimates its clock offset NTP-style. Optional: older control planes
   * send neither.
   */
  forSeq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  receivedAt: isoTime.optional(),
});
export type AckBody = z.infer<typeof ackBodySchema>;

/** The header every envelope carries (`work-order.ts` builds on it too). */
export const envelopeBase = {
  v: z.literal(PROTOCOL_VERSION),
  agentId: uuid,
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  sentAt: z.iso.datetime({ offset: true }),
  traceparent: z.string().regex(TRACEPARENT).optional(),
};

export const inventoryEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.inventory),
  body: inventoryBodySchema,
});
export const healthEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.health),
  body: healthBodySchema,
});
export const seqGapEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.seqGap),
  body: seqGapBodySchema,
});
export const agentRecoveredEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.recovered),
  body: agentRecoveredBodySchema,
});
export const configAppliedEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.configApplied),
  body: configAppliedBodySchema,
});
export const configRejectedEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.configRejected),
  body: configRejectedBodySchema,
});
/** Everything the `events` stream carries. */
export const eventEnvelopeSchema = z.discriminatedUnion('type', [
  seqGapEnvelopeSchema,
  agentRecoveredEnvelopeSchema,
  configAppliedEnvelopeSchema,
  configRejectedEnvelopeSchema,
]);
/** Downlink acks carry seq 0 style numbering of their own; `seq` here counts the control plane's acks. */
export const ackEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.ack),
  body: ackBodySchema,
});

/** Downlink `cmd/config`: the whole desired config; `seq` is its version. Sent retained, so a (re)subscribing agent gets it. */
export const configEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.config),
  body: agentConfigSchema,
});

export const uplinkEnvelopeSchema = z.discriminatedUnion('type', [
  inventoryEnvelopeSchema,
  healthEnvelopeSchema,
]);

export type InventoryEnvelope = z.infer<typeof inventoryEnvelopeSchema>;
export type HealthEnvelope = z.infer<typeof healthEnvelopeSchema>;
export type SeqGapEnvelope = z.infer<typeof seqGapEnvelopeSchema>;
export type AgentRecoveredEnvelope = z.infer<typeof agentRecoveredEnvelopeSchema>;
export type ConfigAppliedEnvelope = z.infer<typeof configAppliedEnvelopeSchema>;
export type ConfigRejectedEnvelope = z.infer<typeof configRejectedEnvelopeSchema>;
export type EventEnvelope =
  SeqGapEnvelope | AgentRecoveredEnvelope | ConfigAppliedEnvelope | ConfigRejectedEnvelope;
export type AckEnvelope = z.infer<typeof ackEnvelopeSchema>;
export type ConfigEnvelope = z.infer<typeof configEnvelopeSchema>;
export type UplinkEnvelope = InventoryEnvelope | HealthEnvelope | EventEnvelope;
export type Envelope =
  UplinkEnvelope | AckEnvelope | ConfigEnvelope | WorkOrderEnvelope | JobProgressEnvelope;

/** Why a message was refused; the control plane keeps it with the dead letter. */
export const REJECT_REASONS = [
  'PAYLOAD_TOO_LARGE',
  'MALFORMED_JSON',
  'UNSUPPORTED_VERSION',
  'SCHEMA_INVALID',
  'UNKNOWN_TOPIC',
  'TYPE_MISMATCH',
  'AGENT_MISMATCH',
  'UNKNOWN_AGENT',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type DecodeResult<T> =
  | { ok: true; message: T }
  | { ok: false; reason: RejectReason; detail: string; agentId?: string; seq?: number };

const looseHeader = z.object({ v: z.unknown(), agentId: z.unknown(), seq: z.unknown() }).partial();

/**
 * Decodes a raw MQTT payload into an envelope, checking size, JSON, version and schema in that order,
 * so each refusal names the first thing that was wrong.
 */
export function decodeEnvelope<S extends z.ZodType>(
  payload: Uint8Array,
  schema: S,
  maxBytes: number = MAX_PAYLOAD_BYTES,
): DecodeResult<z.infer<S>> {
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: 'PAYLOAD_TOO_LARGE', detail: `${payload.byteLength} bytes > ${maxBytes}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (error) {
    return { ok: false, reason: 'MALFORMED_JSON', detail: (error as Error).message.slice(0, 200) };
  }
  const header = looseHeader.safeParse(json);
  const known = header.success ? header.data : {};
  const hint = {
    ...(typeof known.agentId === 'string' ? { agentId: known.agentId } : {}),
    ...(typeof known.seq === 'number' ? { seq: known.seq } : {}),
  };
  if (header.success && known.v !== PROTOCOL_VERSION) {
    return { ok: false, reason: 'UNSUPPORTED_VERSION', detail: `v=${JSON.stringify(known.v)}`, ...hint };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    return { ok: false, reason: 'SCHEMA_INVALID', detail, ...hint };
  }
  return { ok: true, message: parsed.data };
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}
