/**
 * The agent's remote configuration: what `cmd/config` may change (intervals, collectors, the maintenance
 * policy copy), checked against the contract and against what this agent implements, and persisted in the
 * state directory so a restart keeps it. Version 0 is the config the agent enrolled with.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  agentConfigSchema,
  collectorEnabled,
  COLLECTOR_NAMES,
  configEnvelopeSchema,
  decodeEnvelope,
  defaultMaintenancePolicy,
  MAX_INTERVAL_SEC,
  type AgentConfig,
  type CollectorName,
  type CollectorsConfig,
  type ConfigRejectReason,
  type MaintenancePolicy,
  type WorkOrderKey,
} from '@medfleet/contracts';
import { z } from 'zod';
import { SUPPORTED_COLLECTORS } from './collectors.js';
import { writeFileAtomic } from './state.js';
import { AGENT_VERSION } from './version.js';

export const CONFIG_FILE = 'config.json';

/** The config an agent runs by: a contract config, or version 0 (the enrollment defaults). */
export interface EffectiveConfig {
  version: number;
  inventoryIntervalSec: number;
  healthIntervalSec: number;
  collectors: CollectorsConfig;
  maintenance: MaintenancePolicy;
  /** The control plane's keys for signed work orders (none in the enrollment config). */
  workOrderKeys?: WorkOrderKey[];
}

const persistedSchema = z.strictObject({
  applied: agentConfigSchema.optional(),
  /** The last version refused, so a retained config seen again on reconnect is not refused again. */
  rejectedVersion: z.number().int().nonnegative().optional(),
});
type Persisted = z.infer<typeof persistedSchema>;

export type ConfigDecision =
  | { kind: 'apply'; config: EffectiveConfig }
  | { kind: 'reject'; version: number; reason: ConfigRejectReason; detail: string }
  | { kind: 'ignore'; why: string; version?: number };

/** 0 means "not set" in proto3; beyond a day is clamped (setInterval would overflow past ~24.8 days). */
export function intervalSec(configured: number, fallback: number): number {
  return configured > 0 ? Math.min(configured, MAX_INTERVAL_SEC) : fallback;
}

export function enrollmentConfig(
  enrolled: AgentConfig,
  siteTimeZone: string,
  defaults: { inventoryIntervalSec: number; healthIntervalSec: number },
): EffectiveConfig {
  return {
    version: 0,
    inventoryIntervalSec: intervalSec(enrolled.inventoryIntervalSec, defaults.inventoryIntervalSec),
    healthIntervalSec: intervalSec(enrolled.healthIntervalSec, defaults.healthIntervalSec),
    collectors: { inventory: { enabled: true } },
    maintenance: defaultMaintenancePolicy(siteTimeZone || 'UTC'),
  };
}

export function enabledCollectors(config: Pick<EffectiveConfig, 'collectors'>): CollectorName[] {
  return COLLECTOR_NAMES.filter((name) => collectorEnabled(config.collectors, name));
}

/** Holds the applied config and the last refused version, on disk in `config.json`. */
export class ConfigStore {
  private constructor(
    private readonly file: string,
    private state: Persisted,
    private readonly fallback: EffectiveConfig,
  ) {}

  /** Reads `config.json`; a missing or unreadable one leaves the enrollment config (and says why). */
  static async open(
    stateDir: string,
    fallback: EffectiveConfig,
  ): Promise<{ store: ConfigStore; problem?: string }> {
    const file = path.join(stateDir, CONFIG_FILE);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        return { store: new ConfigStore(file, {}, fallback), problem: (error as Error).message };
      }
    }
    if (text === undefined) return { store: new ConfigStore(file, {}, fallback) };
    try {
      const parsed = persistedSchema.safeParse(JSON.parse(text));
      if (parsed.success) return { store: new ConfigStore(file, parsed.data, fallback) };
      return {
        store: new ConfigStore(file, {}, fallback),
        problem: `${CONFIG_FILE} does not match the config schema: ${parsed.error.issues[0]?.message ?? ''}`,
      };
    } catch (error) {
      return {
        store: new ConfigStore(file, {}, fallback),
        problem: `${CONFIG_FILE} is not valid JSON: ${(error as Error).message}`,
      };
    }
  }

  current(): EffectiveConfig {
    return this.state.applied ?? this.fallback;
  }

  /** Decides what to do with a `cmd/config` payload; changes nothing. */
  decide(payload: Uint8Array, agentId: string): ConfigDecision {
    // An empty retained message is how the control plane clears the config it retained: not a config.
    if (payload.byteLength === 0) return { kind: 'ignore', why: 'the retained config was cleared' };
    const decoded = decodeEnvelope(payload, configEnvelopeSchema);
    const kept = this.current().version;
    if (!decoded.ok) {
      const version = versionHint(payload);
      if (version !== undefined && version <= kept) {
        return { kind: 'ignore', why: 'an invalid config no newer than the one applied', version };
      }
      if (version !== undefined && version === this.state.rejectedVersion) {
        return { kind: 'ignore', why: 'this version was refused already', version };
      }
      return {
        kind: 'reject',
        version: version ?? 0,
        reason: 'SCHEMA_INVALID',
        detail: `${decoded.reason}: ${decoded.detail}`.slice(0, 1000),
      };
    }
    const envelope = decoded.message;
    if (envelope.agentId !== agentId) return { kind: 'ignore', why: 'a config for another agent' };
    const config = envelope.body;
    if (config.version <= kept) {
      return { kind: 'ignore', why: 'not newer than the config applied', version: config.version };
    }
    if (config.version === this.state.rejectedVersion) {
      return { kind: 'ignore', why: 'this version was refused already', version: config.version };
    }
    const unsupported = enabledCollectors(config).filter((name) => !SUPPORTED_COLLECTORS.includes(name));
    if (unsupported.length > 0) {
      return {
        kind: 'reject',
        version: config.version,
        reason: 'UNSUPPORTED_COLLECTOR',
        detail: `collector ${unsupported.join(', ')} is not implemented by agent ${AGENT_VERSION} (it runs: ${SUPPORTED_COLLECTORS.join(', ')})`,
      };
    }
    return { kind: 'apply', config };
  }

  /** Persists `config` as the applied one; durable once resolved. */
  async saveApplied(config: EffectiveConfig): Promise<void> {
    const next: Persisted = { applied: agentConfigSchema.parse(config) };
    await writeFileAtomic(this.file, JSON.stringify(next, null, 2));
    this.state = next;
  }

  /** Remembers a refused version (best effort: losing it only means refusing it again). */
  async saveRejected(version: number): Promise<void> {
    const next: Persisted = { ...this.state, rejectedVersion: version };
    this.state = next;
    await writeFileAtomic(this.file, JSON.stringify(next, null, 2));
  }
}

/** The body's version of a config that failed validation, when one can be read. */
function versionHint(payload: Uint8Array): number | undefined {
  try {
    const json = JSON.parse(Buffer.from(payload).toString('utf8')) as { body?: { version?: unknown } };
    const version = json?.body?.version;
    return typeof version === 'number' &&
      Number.isSafeInteger(version) &&
      version > 0 &&
      version <= 2_147_483_647
      ? version
      : undefined;
  } catch {
    return undefined;
  }
}
