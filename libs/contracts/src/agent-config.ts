/**
 * Remote configuration of an agent (`cmd/config`): report intervals, the collectors to run, and a copy of
 * its site's maintenance policy (the agent refuses jobs outside it by its own clock). Versioned: the agent
 * applies a version once, persists it, and reports it applied or rejected on its `events` stream.
 */
import { z } from 'zod';

/**
 * Everything a config may switch on or off. An agent runs the ones it implements; a config that enables
 * one it does not implement is rejected (`UNSUPPORTED_COLLECTOR`), so a mixed-version fleet cannot be told
 * to do what an old agent cannot.
 */
export const COLLECTOR_NAMES = ['inventory', 'passive_discovery', 'snmp_poll'] as const;
export type CollectorName = (typeof COLLECTOR_NAMES)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Longest report interval: a day (timers beyond ~24.8 days overflow, and a silent day is an outage). */
export const MAX_INTERVAL_SEC = 86_400;

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

let knownTimeZones: Set<string> | undefined;
/** An IANA time zone name the runtime knows (`America/New_York`, `UTC`), not an offset. */
export function isIanaTimeZone(value: string): boolean {
  knownTimeZones ??= new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);
  return knownTimeZones.has(value);
}

/**
 * A weekly window in the site's local time, opening on each of `days`; `end` before `start` runs past midnight
 * into the next day, `end` equal to `start` is 24 hours (as in a site's maintenance policy).
 */
export const maintenanceWindowSchema = z.strictObject({
  days: z
    .array(z.enum(WEEKDAYS))
    .min(1)
    .max(7)
    .refine((days) => new Set(days).size === days.length, 'days must not repeat'),
  start: z.string().regex(HH_MM, 'HH:MM, 24-hour'),
  end: z.string().regex(HH_MM, 'HH:MM, 24-hour'),
});
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;

const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;
const blackoutId = z.string().min(1).max(64);

/**
 * A blackout that reaches the site (its own, its county's, its organization's): an absolute interval, or whole
 * local nights (every window opening on a date from `firstDate` to `lastDate`). No work runs in one.
 */
export const policyBlackoutSchema = z.discriminatedUnion('kind', [
  z
    .strictObject({
      kind: z.literal('interval'),
      id: blackoutId,
      start: z.iso.datetime({ offset: true }),
      /** Exclusive. */
      end: z.iso.datetime({ offset: true }),
    })
    .refine((blackout) => Date.parse(blackout.end) > Date.parse(blackout.start), 'end must be after start'),
  z
    .strictObject({
      kind: z.literal('local-dates'),
      id: blackoutId,
      firstDate: z.string().regex(LOCAL_DATE, 'YYYY-MM-DD'),
      lastDate: z.string().regex(LOCAL_DATE, 'YYYY-MM-DD'),
    })
    .refine((blackout) => blackout.lastDate >= blackout.firstDate, 'lastDate must not be before firstDate'),
]);
export type PolicyBlackout = z.infer<typeof policyBlackoutSchema>;

/** Most blackouts a policy copy carries (the control plane sends those not yet over, soonest first). */
export const MAX_POLICY_BLACKOUTS = 200;

export const maintenancePolicySchema = z.strictObject({
  timeZone: z.string().max(64).refine(isIanaTimeZone, 'must be an IANA time zone such as America/New_York'),
  /** None at all (a site closed to maintenance) refuses every job. */
  windows: z.array(maintenanceWindowSchema).max(14),
  blackouts: z.array(policyBlackoutSchema).max(MAX_POLICY_BLACKOUTS).optional(),
});
export type MaintenancePolicy = z.infer<typeof maintenancePolicySchema>;

/** The house default: every day 22:00–05:00 site-local time. */
export const DEFAULT_MAINTENANCE_WINDOWS: readonly MaintenanceWindow[] = [
  { days: [...WEEKDAYS], start: '22:00', end: '05:00' },
];

export function defaultMaintenancePolicy(timeZone: string): MaintenancePolicy {
  return {
    timeZone,
    windows: DEFAULT_MAINTENANCE_WINDOWS.map((window) => ({ ...window, days: [...window.days] })),
  };
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A work-order key id: the control plane names its keys, the agent looks them up by it. */
export const workOrderKeyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'key id: [A-Za-z0-9._:-]{1,64}');

/** One control-plane public key an agent accepts work orders from (several during a key rotation). */
export const workOrderKeySchema = z.strictObject({
  keyId: workOrderKeyIdSchema,
  algorithm: z.literal('Ed25519'),
  /** The 32 raw public-key bytes, base64url without padding (43 characters). */
  publicKey: z.string().length(43).regex(BASE64URL, 'base64url without padding'),
});
export type WorkOrderKey = z.infer<typeof workOrderKeySchema>;

const interval = z.number().int().min(1).max(MAX_INTERVAL_SEC);

export const collectorSettingsSchema = z.strictObject({ enabled: z.boolean() });

/** Collectors by name; one not named keeps its default (off, except `inventory`). Unknown names are refused. */
export const collectorsConfigSchema = z.partialRecord(z.enum(COLLECTOR_NAMES), collectorSettingsSchema);
export type CollectorsConfig = z.infer<typeof collectorsConfigSchema>;

export const agentConfigSchema = z.strictObject({
  /** Rises by one with each change the control plane makes; 0 is the config the agent enrolled with. */
  version: z.number().int().positive().max(2_147_483_647),
  inventoryIntervalSec: interval,
  healthIntervalSec: interval,
  collectors: collectorsConfigSchema,
  maintenance: maintenancePolicySchema,
  /**
   * The control plane's public keys the agent accepts signed work orders (`cmd/jobs`) from, by key id; two
   * during a rotation. Absent or empty: the agent refuses every work order (`UNKNOWN_KEY`).
   */
  workOrderKeys: z.array(workOrderKeySchema).max(8).optional(),
});
export type AgentConfigBody = z.infer<typeof agentConfigSchema>;

/** Whether a collector is on under `collectors` (inventory is on unless switched off). */
export function collectorEnabled(collectors: CollectorsConfig, name: CollectorName): boolean {
  return collectors[name]?.enabled ?? name === 'inventory';
}

/** Why an agent refused a config; it keeps the one it had. */
export const CONFIG_REJECT_REASONS = ['SCHEMA_INVALID', 'UNSUPPORTED_COLLECTOR', 'PERSIST_FAILED'] as const;
export type ConfigRejectReason = (typeof CONFIG_REJECT_REASONS)[number];

/** On the `events` stream: the agent applied (and persisted) this config version. */
export const configAppliedBodySchema = z.strictObject({
  version: z.number().int().positive().max(2_147_483_647),
  appliedAt: z.iso.datetime({ offset: true }),
});
export type ConfigAppliedBody = z.infer<typeof configAppliedBodySchema>;

/** On the `events` stream: the agent refused a config and kept `keptVersion`. */
export const configRejectedBodySchema = z.strictObject({
  /** The refused version; 0 when the message was too broken to carry one. */
  version: z.number().int().nonnegative().max(2_147_483_647),
  keptVersion: z.number().int().nonnegative().max(2_147_483_647),
  reason: z.enum(CONFIG_REJECT_REASONS),
  detail: z.string().min(1).max(1000),
  rejectedAt: z.iso.datetime({ offset: true }),
});
export type ConfigRejectedBody = z.infer<typeof configRejectedBodySchema>;
