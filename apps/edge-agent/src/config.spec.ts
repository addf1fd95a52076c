// Remote configuration, clock offset and outbox age, with the agent against the real MQTT broker.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  defaultMaintenancePolicy,
  MESSAGE_TYPES,
  type ConfigAppliedEnvelope,
  type ConfigRejectedEnvelope,
  type HealthEnvelope,
} from '@medfleet/contracts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent, type AgentOptions } from './agent.js';
import { CONFIG_FILE } from './config.js';
import type { AgentIdentity } from './state.js';
import { closeControlPlanes, controlPlane, type ControlPlane } from './testing/control-plane.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';

const dirs: string[] = [];
const agents: Agent[] = [];
const retained: ControlPlane[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await Promise.all(retained.splice(0).map((cp) => cp.clearConfig()));
  await closeControlPlanes();
  await removeDirs(dirs);
});

const waitLong = { timeout: 15_000, interval: 50 };

async function stateDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}

async function startAgent(identity: AgentIdentity, dir: string, options: Partial<AgentOptions> = {}) {
  const { logger, lines } = captureLogger(identity.agentId);
  const agent = new Agent({
    identity,
    stateDir: dir,
    logger,
    simulate: { seed: 'config-clinic', deviceCount: 3 },
    resendIntervalMs: 60_000,
    flushTimeoutMs: 200,
    ...options,
    mqtt: { reconnectMinMs: 100, reconnectMaxMs: 400, sessionExpirySec: 10 },
  });
  agents.push(agent);
  await agent.start();
  return { agent, lines };
}

async function configPlane(identity: AgentIdentity) {
  const cp = await controlPlane(identity);
  retained.push(cp);
  return cp;
}

const config = (version: number, patch: Record<string, unknown> = {}) => ({
  version,
  inventoryIntervalSec: 3600,
  healthIntervalSec: 1,
  collectors: { inventory: { enabled: true } },
  maintenance: defaultMaintenancePolicy('America/Chicago'),
  ...patch,
});

const healthReports = (cp: ControlPlane) =>
  cp.received.flatMap((m) =>
    m.envelope.type === MESSAGE_TYPES.health ? [m.envelope as HealthEnvelope] : [],
  );
/** Distinct by seq: an unacknowledged message is replayed after a restart, which is no second event. */
const applied = (cp: ControlPlane) => [
  ...new Map(
    cp.received.flatMap((m) =>
      m.envelope.type === MESSAGE_TYPES.configApplied
        ? [[m.envelope.seq, m.envelope as ConfigAppliedEnvelope] as const]
        : [],
    ),
  ).values(),
];
const rejected = (cp: ControlPlane) =>
  cp.received.flatMap((m) =>
    m.envelope.type === MESSAGE_TYPES.configRejected ? [m.envelope as ConfigRejectedEnvelope] : [],
  );

describe('remote configuration on cmd/config', () => {
  it('applies a config without a restart: the health interval changes and the version is reported', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 3600 } });
    const cp = await configPlane(identity);
    const { agent } = await startAgent(identity, await stateDir());
    await vi.waitFor(() => expect(healthReports(cp)).toHaveLength(1), waitLong);
    expect(healthReports(cp)[0]?.body.configVersion).toBe(0);
    // With an hour between reports, nothing more comes for a while.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(healthReports(cp)).toHaveLength(1);

    await cp.sendConfig(config(1));
    await vi.waitFor(() => expect(applied(cp).map((e) => e.body.version)).toEqual([1]), waitLong);
    const before = healthReports(cp).length;
    await vi.waitFor(() => expect(healthReports(cp).length).toBeGreaterThanOrEqual(before + 3), waitLong);
    expect(healthReports(cp).at(-1)?.body.configVersion).toBe(1);
    expect(agent.status()).toMatchObject({ configVersion: 1, healthIntervalSec: 1, state: 'running' });
    expect(cp.invalid).toEqual([]);
  });

  it('rejects a bad config with its reason and keeps the old one', async () => {
    const identity = makeIdentity();
    const cp = await configPlane(identity);
    const { agent } = await startAgent(identity, await stateDir());
    await cp.sendConfig(config(1, { healthIntervalSec: 2 }));
    await vi.waitFor(() => expect(agent.status().configVersion).toBe(1), waitLong);

    // A collector this agent does not implement.
    await cp.sendConfig(config(2, { collectors: { snmp_poll: { enabled: true } } }));
    await vi.waitFor(() => expect(rejected(cp)).toHaveLength(1), waitLong);
    expect(rejected(cp)[0]?.body).toMatchObject({
      version: 2,
      keptVersion: 1,
      reason: 'UNSUPPORTED_COLLECTOR',
      detail: expect.stringContaining('snmp_poll'),
    });
    // Broken against the contract: an interval of zero and a time zone that does not exist.
    await cp.sendConfig(
      config(3, { healthIntervalSec: 0, maintenance: { timeZone: 'Mars/Base', windows: [] } }),
    );
    await vi.waitFor(() => expect(rejected(cp)).toHaveLength(2), waitLong);
    expect(rejected(cp)[1]?.body).toMatchObject({ version: 3, keptVersion: 1, reason: 'SCHEMA_INVALID' });
    expect(rejected(cp)[1]?.body.detail).toContain('healthIntervalSec');
    // Not JSON at all: refused, nothing readable to name.
    await cp.publish('config', 'not json');
    await vi.waitFor(() => expect(rejected(cp)).toHaveLength(3), waitLong);
    expect(rejected(cp)[2]?.body).toMatchObject({ version: 0, keptVersion: 1, reason: 'SCHEMA_INVALID' });

    expect(agent.status()).toMatchObject({ configVersion: 1, healthIntervalSec: 2 });
    const stored = JSON.parse(await fs.readFile(path.join(agent['options'].stateDir, CONFIG_FILE), 'utf8'));
    expect(stored.applied.version).toBe(1);
    expect(applied(cp).map((e) => e.body.version)).toEqual([1]);
    // An older version than the one applied is not applied either.
    await cp.sendConfig(config(1, { healthIntervalSec: 7 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(agent.status()).toMatchObject({ configVersion: 1, healthIntervalSec: 2 });
    expect(cp.invalid).toEqual([]);
  });

  it('keeps the applied config across a restart, collectors included, and does not apply it twice', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 3600 } });
    const dir = await stateDir();
    const cp = await configPlane(identity);
    const first = await startAgent(identity, dir);
    await cp.sendConfig(config(4, { healthIntervalSec: 2, collectors: { inventory: { enabled: false } } }));
    await vi.waitFor(() => expect(applied(cp)).toHaveLength(1), waitLong);
    expect(first.agent.collectorStates().find((c) => c.name === 'inventory')).toMatchObject({
      enabled: false,
      running: false,
    });
    await first.agent.stop();

    const { agent, lines } = await startAgent(identity, dir);
    expect(agent.status()).toMatchObject({ configVersion: 4, healthIntervalSec: 2 });
    expect(agent.collectorStates().find((c) => c.name === 'inventory')).toMatchObject({ running: false });
    // The retained config arrives again on subscribe: already applied, so nothing is reported.
    await vi.waitFor(() => expect(lines.map((l) => l.msg)).toContain('config ignored'), waitLong);
    const inventoryBefore = cp.received.filter((m) => m.envelope.type === MESSAGE_TYPES.inventory).length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(applied(cp)).toHaveLength(1);
    expect(cp.received.filter((m) => m.envelope.type === MESSAGE_TYPES.inventory)).toHaveLength(
      inventoryBefore,
    );
    await vi.waitFor(
      () =>
        expect(healthReports(cp).at(-1)?.body.collectors?.[0]).toMatchObject({
          name: 'inventory',
          enabled: false,
        }),
      waitLong,
    );
  });
});

describe('health: clock offset and outbox age', () => {
  it('estimates the clock offset against a control plane whose clock runs 90 s ahead', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 1 } });
    const cp = await controlPlane(identity);
    const { agent } = await startAgent(identity, await stateDir());
    let acked = 0;
    const timer = setInterval(() => {
      const seqs = cp.seqs();
      const top = Math.max(0, ...seqs);
      if (top > acked) {
        acked = top;
        void cp.timedAck(top, top, 90_000);
      }
    }, 20);
    try {
      await vi.waitFor(() => {
        const offset = healthReports(cp).at(-1)?.body.clockOffsetMs;
        expect(offset).toBeDefined();
        expect(Math.abs((offset as number) - 90_000)).toBeLessThan(1_000);
      }, waitLong);
    } finally {
      clearInterval(timer);
    }
    const estimate = agent.status().clock;
    expect(estimate?.rttMs).toBeLessThan(2_000);
    expect(Math.abs((estimate?.offsetMs ?? 0) - 90_000)).toBeLessThan(1_000);
  });

  it('reports the age of the oldest unacknowledged message', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 1 } });
    const cp = await controlPlane(identity);
    await startAgent(identity, await stateDir());
    // Nothing is acked: the first message keeps waiting and grows older.
    await vi.waitFor(() => {
      const last = healthReports(cp).at(-1)?.body;
      expect(last?.outboxOldestAgeSec).toBeGreaterThanOrEqual(2);
      expect(last?.outboxDepth).toBeGreaterThanOrEqual(3);
    }, waitLong);
    const first = healthReports(cp)[0]?.body;
    expect(first?.outboxOldestAgeSec ?? 0).toBeLessThan(1);
    // Once all is acked there is no oldest message.
    await cp.ack(Math.max(...cp.seqs()));
    await vi.waitFor(() => {
      const last = healthReports(cp).at(-1)?.body;
      expect(last?.outboxDepth).toBe(0);
      expect(last).not.toHaveProperty('outboxOldestAgeSec');
    }, waitLong);
  });
});
