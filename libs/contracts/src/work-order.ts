/**
 * Work orders (downlink `cmd/jobs`) and job progress (uplink `jobs/progress`) of protocol v1.
 *
 * A work order tells one agent to run one job on one device inside one maintenance window. The control plane
 * signs it with Ed25519; the agent checks the signature against the work-order keys its config carries
 * (`workOrderKeys` on `cmd/config`), then checks the window by its own clock and policy copy before it runs.
 *
 * Signed bytes (`canonicalWorkOrder`): the body without its `signature` member, serialized as JSON with
 * - object members sorted by key (JavaScript's default string order, i.e. by UTF-16 code units), at every level;
 * - arrays kept in order; no whitespace anywhere;
 * - strings escaped as `JSON.stringify` escapes them; numbers only as safe integers (the schema has no others);
 * - no `undefined` members (absent optional fields are left out, never written as null);
 * encoded as UTF-8. The signature is Ed25519 (RFC 8032, pure, no pre-hash) over those bytes, base64url without
 * padding. Public keys travel as the 32 raw key bytes in base64url (the `x` of an OKP JWK).
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { isIanaTimeZone, workOrderKeyIdSchema, type WorkOrderKey } from './agent-config.js';
import { MAC_PATTERN } from './device.js';
import { envelopeBase } from './messages.js';
import { MESSAGE_TYPES } from './protocol.js';

const isoTime = z.iso.datetime({ offset: true });
/** UTC instants in a work order carry `Z`, so the signed bytes have one spelling per instant. */
const utcTime = z.iso.datetime();
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const text = (max: number) => z.string().min(1).max(max);

/** The device a job is for: by MAC (what the agent sees on the network), by the control plane's device id, or both. */
export const workOrderDeviceSchema = z
  .strictObject({
    mac: z.string().regex(MAC_PATTERN, 'lowercase colon-separated MAC').optional(),
    deviceId: z.uuid().optional(),
  })
  .refine(
    (device) => device.mac !== undefined || device.deviceId !== undefined,
    'a device needs mac or deviceId',
  );
export type WorkOrderDevice = z.infer<typeof workOrderDeviceSchema>;

export const firmwareArtifactSchema = z.strictObject({
  version: text(64),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256'),
  sizeBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** Where the agent fetches it: a control-plane download path or URL, resolved by the agent's adapter. */
  download: text(2048),
});
export type FirmwareArtifact = z.infer<typeof firmwareArtifactSchema>;

export const workOrderActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('firmware_update'), artifact: firmwareArtifactSchema }),
  /** Work a technician does by hand: the agent turns it into a checklist and waits for the confirmation. */
  z.strictObject({
    kind: z.literal('manual_procedure'),
    title: text(200),
    steps: z.array(text(500)).min(1).max(50),
  }),
]);
export type WorkOrderAction = z.infer<typeof workOrderActionSchema>;

/** The maintenance window the job was planned into, in UTC and as the site's clock reads it. */
export const workOrderWindowSchema = z
  .strictObject({
    startUtc: utcTime,
    endUtc: utcTime,
    /** Site-local times with their offset (`2026-11-03T22:00:00-05:00`), for people and audits. */
    startLocal: isoTime,
    endLocal: isoTime,
    timeZone: z.string().max(64).refine(isIanaTimeZone, 'must be an IANA time zone such as America/New_York'),
  })
  .refine(
    (window) => Date.parse(window.startUtc) < Date.parse(window.endUtc),
    'window needs startUtc < endUtc',
  )
  .refine(
    (window) =>
      Date.parse(window.startLocal) === Date.parse(window.startUtc) &&
      Date.parse(window.endLocal) === Date.parse(window.endUtc),
    'local and UTC times must name the same instants',
  );
export type WorkOrderWindow = z.infer<typeof workOrderWindowSchema>;

const workOrderShape = {
  jobId: z.uuid(),
  campaignId: z.uuid(),
  /** Rises by one each time the control plane re-issues the job (after a deferral or a missed window). */
  attempt: z.number().int().positive().max(1_000_000),
  /** The agent the order is for, so an order cannot be replayed to another agent. */
  agentId: z.uuid(),
  device: workOrderDeviceSchema,
  action: workOrderActionSchema,
  window: workOrderWindowSchema,
  /** The job must be finished by then; never after the window's end. */
  deadline: utcTime,
  issuedAt: utcTime,
};

interface OrderTimes {
  deadline: string;
  issuedAt: string;
  window: { startUtc: string; endUtc: string };
}

const orderRules = <S extends z.ZodType<OrderTimes>>(schema: S): S =>
  schema
    .refine((order) => Date.parse(order.deadline) <= Date.parse(order.window.endUtc), {
      message: 'the deadline must not be after the window end',
      path: ['deadline'],
    })
    .refine((order) => Date.parse(order.deadline) > Date.parse(order.window.startUtc), {
      message: 'the deadline must be after the window start',
      path: ['deadline'],
    })
    .refine((order) => Date.parse(order.issuedAt) < Date.parse(order.deadline), {
      message: 'issuedAt must be before the deadline',
      path: ['issuedAt'],
    }) as S;

/** A work order before signing: what the signature covers. */
export const workOrderSchema = orderRules(z.strictObject(workOrderShape));
export type WorkOrder = z.infer<typeof workOrderSchema>;

export const workOrderSignatureSchema = z.strictObject({
  algorithm: z.literal('Ed25519'),
  keyId: workOrderKeyIdSchema,
  /** 64 signature bytes, base64url without padding (86 characters). */
  value: z.string().length(86).regex(BASE64URL, 'base64url without padding'),
});
export type WorkOrderSignature = z.infer<typeof workOrderSignatureSchema>;

/** The body of `cmd/jobs`: the order and its signature. */
export const signedWorkOrderSchema = orderRules(
  z.strictObject({ ...workOrderShape, signature: workOrderSignatureSchema }),
);
export type SignedWorkOrder = z.infer<typeof signedWorkOrderSchema>;

/** Downlink `cmd/jobs`: one signed work order; `seq` counts the control plane's messages to this agent. */
export const workOrderEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.workOrder),
  body: signedWorkOrderSchema,
});
export type WorkOrderEnvelope = z.infer<typeof workOrderEnvelopeSchema>;

function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new TypeError(`canonical JSON holds only safe integers, got ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/** The bytes a work order's signature covers: its canonical JSON without `signature` (see the file comment). */
export function canonicalWorkOrder(order: WorkOrder | SignedWorkOrder): Buffer {
  const { signature: _signature, ...unsigned } = order as SignedWorkOrder;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** Signs an order with the control plane's Ed25519 private key (a KeyObject or PEM). */
export function signWorkOrder(
  order: WorkOrder,
  key: { keyId: string; privateKey: KeyObject | string },
): SignedWorkOrder {
  const value = sign(null, canonicalWorkOrder(order), key.privateKey).toString('base64url');
  return { ...order, signature: { algorithm: 'Ed25519', keyId: key.keyId, value } };
}

/** The `workOrderKeys` entry for an Ed25519 public key (a KeyObject or PEM). */
export function workOrderKeyOf(keyId: string, publicKey: KeyObject | string): WorkOrderKey {
  const jwk = (typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey).export({
    format: 'jwk',
  });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new TypeError('a work-order key must be an Ed25519 public key');
  }
  return { keyId, algorithm: 'Ed25519', publicKey: jwk.x };
}

export type SignatureCheck =
  { ok: true; keyId: string } | { ok: false; reason: 'UNKNOWN_KEY' | 'BAD_SIGNATURE' };

/** Checks an order's signature against the keys the agent trusts. */
export function verifyWorkOrderSignature(
  order: SignedWorkOrder,
  keys: readonly WorkOrderKey[],
): SignatureCheck {
  const key = keys.find((candidate) => candidate.keyId === order.signature.keyId);
  if (!key) return { ok: false, reason: 'UNKNOWN_KEY' };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey }, format: 'jwk' });
  } catch {
    // A key that is not one cannot vouch for anything.
    return { ok: false, reason: 'BAD_SIGNATURE' };
  }
  const signature = Buffer.from(order.signature.value, 'base64url');
  const valid = signature.length === 64 && verify(null, canonicalWorkOrder(order), publicKey, signature);
  return valid ? { ok: true, keyId: key.keyId } : { ok: false, reason: 'BAD_SIGNATURE' };
}

// ---- job progress (uplink `jobs/progress`) ----

/** Why an agent refused a work order without running anything. */
export const JOB_REFUSE_REASONS = [
  'SCHEMA_INVALID',
  'BAD_SIGNATURE',
  'UNKNOWN_KEY',
  'WRONG_AGENT',
  'OUTSIDE_WINDOW',
  'EXPIRED',
  'DEVICE_UNKNOWN',
  'UNSUPPORTED_ACTION',
  'ALREADY_SUCCEEDED',
  'SUPERSEDED',
  'JOB_IN_PROGRESS',
] as const;
export type JobRefuseReason = (typeof JOB_REFUSE_REASONS)[number];

/** Why a job was held back; the control plane moves it to a later window. */
export const JOB_DEFER_REASONS = [
  'IN_CLINICAL_USE',
  'DEVICE_OFFLINE',
  'LOW_BATTERY',
  'WINDOW_ENDED',
  'AGENT_INTERRUPTED',
] as const;
export type JobDeferReason = (typeof JOB_DEFER_REASONS)[number];

export const JOB_FAIL_REASONS = [
  'FIRMWARE_NOT_UPDATED',
  'APPLY_FAILED',
  'VERIFY_FAILED',
  'DEVICE_UNREACHABLE_AFTER_APPLY',
  'ADAPTER_ERROR',
  'TECHNICIAN_REPORTED_FAILURE',
] as const;
export type JobFailReason = (typeof JOB_FAIL_REASONS)[number];

export const JOB_STEPS = ['precheck', 'apply', 'verify'] as const;
export type JobStep = (typeof JOB_STEPS)[number];

const progressBase = {
  jobId: z.uuid(),
  campaignId: z.uuid(),
  attempt: z.number().int().positive().max(1_000_000),
  /** When the agent (by its own clock) reached this state. */
  at: isoTime,
};
const detail = text(1000);

export const jobProgressBodySchema = z.discriminatedUnion('state', [
  z.strictObject({ ...progressBase, state: z.literal('accepted'), adapter: text(64) }),
  /** Refused: campaign and attempt are absent when the order was too broken to read them. */
  z.strictObject({
    ...progressBase,
    campaignId: progressBase.campaignId.optional(),
    attempt: progressBase.attempt.optional(),
    state: z.literal('refused'),
    reason: z.enum(JOB_REFUSE_REASONS),
    detail,
  }),
  z.strictObject({
    ...progressBase,
    state: z.literal('running'),
    step: z.enum(JOB_STEPS),
    percent: z.number().int().min(0).max(100),
  }),
  /**
   * A manual procedure waits for a technician: the checklist is what they do; the confirmation comes from the
   * control plane's API, after which the job ends `succeeded` or `failed` (`TECHNICIAN_REPORTED_FAILURE`).
   */
  z.strictObject({
    ...progressBase,
    state: z.literal('waiting_manual'),
    title: text(200),
    checklist: z.array(text(500)).min(1).max(50),
  }),
  z.strictObject({
    ...progressBase,
    state: z.literal('deferred'),
    reason: z.enum(JOB_DEFER_REASONS),
    /** The step the job was in when it stopped (absent when it never started one). */
    step: z.enum(JOB_STEPS).optional(),
    detail,
  }),
  z.strictObject({
    ...progressBase,
    state: z.literal('succeeded'),
    /** The version read back from the device after the update (absent for a manual procedure). */
    firmwareVersion: text(64).optional(),
  }),
  z.strictObject({
    ...progressBase,
    state: z.literal('failed'),
    reason: z.enum(JOB_FAIL_REASONS),
    step: z.enum(JOB_STEPS).optional(),
    /** What the device reports after the failure, when it could be read. */
    firmwareVersion: text(64).optional(),
    detail,
  }),
]);
export type JobProgressBody = z.infer<typeof jobProgressBodySchema>;
export type JobState = JobProgressBody['state'];
/** States after which the agent does nothing more for that attempt. */
export const FINAL_JOB_STATES: readonly JobState[] = ['refused', 'deferred', 'succeeded', 'failed'];

export const jobProgressEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  type: z.literal(MESSAGE_TYPES.jobProgress),
  body: jobProgressBodySchema,
});
export type JobProgressEnvelope = z.infer<typeof jobProgressEnvelopeSchema>;
