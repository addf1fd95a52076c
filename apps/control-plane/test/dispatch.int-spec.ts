// Dispatch of patch jobs against real PostgreSQL and MQTT: two control planes on one database claim due jobs
// concurrently and every job goes out exactly once (counted on the broker and in the database), as a work order
// signed with the key the agents were given in their config; jobs whose window has not opened stay planned; a
// site's concurrency limit holds; agents' progress on `jobs/progress` moves jobs (and their acks), progress about
// another agent's, another tenant's or an unknown job is dead-lettered; unfinished jobs roll to their next window.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentConfigSchema,
  configEnvelopeSchema,
  decodeEnvelope,
  uplinkTopic,
  verifyWorkOrderSignature,
  workOrderEnvelopeSchema,
  type JobProgressBody,
  type WorkOrderEnvelope,
  type WorkOrderKey,
} from '@medfleet/contracts';
import { loadConfig } from '../src/config/app-config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { freePort } from '../src/infra/embedded-postgres.js';
import { createLogger } from '../src/infra/logger.js';
import { DispatchClock } from '../src/modules/dispatch/dispatch-clock.js';
import { PatchDispatcher } from '../src/modules/dispatch/patch-dispatch.job.js';
import { AgentReports } from './support/agent-reports.js';
import { signInAs } from './support/identity-session.js';
import {
  createTenantSession,
  device,
  eventually,
  expectOk,
  type EnrolledAgent,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { realBroker, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const DAY = 86_400_000;
const MINUTE = 60_000;
const ALARIS = 'Alaris 8015 PC Unit';
const DEVICES_PER_AGENT = 12;

let cp: TestControlPlane;
let replica: RunningControlPlane;
let replicaDir: string;
let owner: pg.Client;
let practice: TenantSession;
let other: TenantSession;
let chicago: SiteRecord;
let small: SiteRecord;
/** The agents reporting the devices: New York, Chicago, and a site with the default limit of one job. */
const agents: EnrolledAgent[] = [];
let outsider: EnrolledAgent;
/** Extra subscribers on the replica's own broker (embedded mode: each control plane runs one). */
const watchers: MqttClient[] = [];
/** Every work order received on any broker, by job id. */
const orders = new Map<string, WorkOrderEnvelope[]>();
const configs = new Map<string, WorkOrderKey[]>();
let campaignId: string;
let firstOpening: Date;
let windowStart: Date;
let windowEnd: Date;

function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`${what} is missing`);
  return value;
}

function watch(client: MqttClient): void {
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/cmd/jobs')) {
      const decoded = decodeEnvelope(payload, workOrderEnvelopeSchema);
      if (!decoded.ok) throw new Error(`a work order that breaks the contract: ${decoded.detail}`);
      const list = orders.get(decoded.message.body.jobId) ?? [];
      list.push(decoded.message);
      orders.set(decoded.message.body.jobId, list);
    } else if (topic.endsWith('/cmd/config')) {
      const decoded = decodeEnvelope(payload, configEnvelopeSchema);
      if (decoded.ok) configs.set(decoded.message.agentId, decoded.message.body.workOrderKeys ?? []);
    }
  });
}

async function jobs(): Promise<
  {
    id: string;
    site_id: string;
    state: string;
    attempt: number;
    agent_id: string | null;
    rollovers: number;
  }[]
> {
  const result = await owner.query(
    `SELECT id, site_id, state::text AS state, attempt, agent_id, rollovers FROM patch_jobs WHERE campaign_id = $1`,
    [campaignId],
  );
  return result.rows;
}

async function tickBoth(): Promise<number> {
  const results = await Promise.all([
    cp.app.get(PatchDispatcher).tick(),
    replica.app.get(PatchDispatcher).tick(),
    cp.app.get(PatchDispatcher).tick(),
    replica.app.get(PatchDispatcher).tick(),
  ]);
  return results.reduce((sum, result) => sum + result.dispatched.length, 0);
}

function setClock(instant: Date): void {
  cp.app.get(DispatchClock).set(instant);
  replica.app.get(DispatchClock).set(instant);
}

let reports: AgentReports;
const reportProgress = (agent: EnrolledAgent, body: JobProgressBody) => reports.progress(agent, body);
const applyConfig = (agent: EnrolledAgent) => reports.applyConfig(agent);

beforeAll(async () => {
  cp = await startTestControlPlane({ DISPATCH_INTERVAL_SEC: '0' });
  owner = await cp.owner();
  replicaDir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-replica-'));
  // Replicas share the key that seals private keys (kept in the data directory by default).
  const sealingKey = path.join(cp.config.DATA_DIR, 'pki', 'ca-key-encryption.key');
  if (existsSync(sealingKey)) {
    mkdirSync(path.join(replicaDir, 'pki'), { recursive: true, mode: 0o700 });
    copyFileSync(sealingKey, path.join(replicaDir, 'pki', 'ca-key-encryption.key'));
  }
  const config = loadConfig({
    PORT: String(await freePort()),
    GRPC_PORT: String(await freePort()),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    DATA_DIR: replicaDir,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
    MQTT_SHARE_GROUP: cp.config.MQTT_SHARE_GROUP,
    MQTT_SESSION_EXPIRY_SEC: '0',
    DB_POOL_SIZE: '2',
    DISPATCH_INTERVAL_SEC: '0',
    DATABASE_URL: cp.databaseUrl,
    ...(realBroker ? { MQTT_URL: realBroker } : {}),
  });
  replica = await startControlPlane(config, createLogger(config.LOG_LEVEL));

  practice = await createTenantSession(cp);
  reports = new AgentReports(practice);
  other = await createTenantSession(cp);
  chicago = await practice.createSite({ timeZone: 'America/Chicago', county: 'Cook' });
  small = await practice.createSite({ timeZone: 'America/New_York', county: 'Broward' });
  for (const site of [practice.site, chicago]) {
    await expectOk(
      practice.api.request('PUT', `/sites/${site.id}/maintenance-policy`, { maxConcurrentJobs: 100 }),
    );
  }
  const fleets: [string, number][] = [
    [practice.site.id, DEVICES_PER_AGENT],
    [chicago.id, DEVICES_PER_AGENT],
    [small.id, 3],
  ];
  for (const [index, [siteId, count]] of fleets.entries()) {
    const agent = await practice.enrollAgent({ siteId });
    watch(agent.mqtt);
    await agent.publishInventory(
      1,
      Array.from({ length: count }, (_, n) => device(index * 100 + n + 1)),
    );
    await agent.waitForAck(1);
    agents.push(agent);
    if (!realBroker) {
      const watcher = await mqtt.connectAsync(replica.mqttUrl, {
        clientId: `${agent.identity.mqtt.clientId}`,
        username: agent.identity.mqtt.username,
        password: agent.identity.mqtt.password,
        protocolVersion: agent.identity.mqtt.protocolVersion as 4 | 5,
        clean: true,
        reconnectPeriod: 0,
      });
      await watcher.subscribeAsync(
        `${uplinkTopic(agent.identity, 'inventory').replace(/inventory$/, 'cmd/+')}`,
        {
          qos: 1,
        },
      );
      watch(watcher);
      watchers.push(watcher);
    }
  }
  outsider = await other.enrollAgent();
  await outsider.publishInventory(1, [device(900)]);
  await outsider.waitForAck(1);

  const admin = (await signInAs(cp, 'practice_admin', { tenantId: practice.tenant.id })).api;
  campaignId = (
    await expectOk(
      practice.api.post('/campaigns', {
        name: `Alaris 12.3 ${randomUUID().slice(0, 6)}`,
        tenantIds: [practice.tenant.id],
        target: { vendor: 'bd', models: [ALARIS], firmware: { min: '12.0', max: '12.3' } },
        artifact: {
          version: '12.3.0',
          sha256: 'b'.repeat(64),
          signature: Buffer.from('signed by the vendor').toString('base64'),
          sizeBytes: 52_428_800,
        },
        waves: [{ percent: 100 }],
        successRatePercent: 90,
        abort: { failurePercent: 50, minExecuted: 10 },
        catchUp: { mode: 'next-window', maxRollovers: 3 },
        durations: { minutesByModel: { [ALARIS]: 30 }, marginMinutes: 0 },
        earliestStart: new Date(Math.ceil(Date.now() / DAY) * DAY + DAY / 2).toISOString(),
        horizonDays: 14,
      }),
    )
  ).id;
  await expectOk(admin.post(`/campaigns/${campaignId}/approve`, {}));
  await expectOk(practice.api.post(`/campaigns/${campaignId}/start`));
  // The first night of each site (Chicago's opens an hour after New York's): from the latest opening, every
  // site's window is open; after the latest end, every one has ended.
  const first = await owner.query(
    `SELECT min(start) AS first, max(start) AS start, max("end") AS end FROM (
       SELECT min(window_start) AS start, min(window_end) AS "end" FROM patch_jobs
        WHERE campaign_id = $1 GROUP BY site_id) AS nights`,
    [campaignId],
  );
  firstOpening = first.rows[0].first;
  windowStart = first.rows[0].start;
  windowEnd = first.rows[0].end;
}, 120_000);

afterAll(async () => {
  for (const agent of [...agents, outsider]) await agent?.close();
  for (const watcher of watchers) await watcher.endAsync();
  await owner?.end();
  await replica?.close();
  await cp?.stop();
  if (replicaDir) rmSync(replicaDir, { recursive: true, force: true });
});

describe('before the window opens', () => {
  it('dispatches nothing, and gives every agent the work-order key in a new config version', async () => {
    setClock(new Date(firstOpening.getTime() - MINUTE));
    expect(await tickBoth()).toBe(0);
    const all = await jobs();
    expect(all).toHaveLength(2 * DEVICES_PER_AGENT + 3);
    expect(all.every((job) => job.state === 'planned')).toBe(true);
    const keys = await owner.query(`SELECT key_id, public_key FROM work_order_keys`);
    expect(keys.rows).toHaveLength(1);
    for (const agent of agents) {
      const received = await eventually(async () => configs.get(agent.identity.agentId));
      expect(received).toEqual([
        { keyId: keys.rows[0].key_id, algorithm: 'Ed25519', publicKey: keys.rows[0].public_key },
      ]);
      const stored = await expectOk(practice.api.get(`/agents/${agent.identity.agentId}/config`));
      expect(agentConfigSchema.parse(stored.desired).workOrderKeys).toEqual(received);
    }
    // Orders go only to agents that run a config with the key: none has said so yet.
    setClock(new Date(windowStart.getTime() + MINUTE));
    expect(await tickBoth()).toBe(0);
    setClock(new Date(firstOpening.getTime() - MINUTE));
    for (const agent of agents) await applyConfig(agent);
    // Given once: another tick makes no new version.
    const before = await owner.query(`SELECT count(*)::int AS n FROM agent_configs`);
    await tickBoth();
    expect((await owner.query(`SELECT count(*)::int AS n FROM agent_configs`)).rows[0].n).toBe(
      before.rows[0].n,
    );
    expect(orders.size).toBe(0);
  });
});

describe('two control planes inside the window', () => {
  it('dispatch every due job exactly once, within each site’s concurrency limit', async () => {
    setClock(new Date(windowStart.getTime() + MINUTE));
    const dispatched = await tickBoth();
    const all = await jobs();
    const atSmall = all.filter((job) => job.site_id === small.id);
    // New York and Chicago: every job; the small site: one (its limit), the others wait.
    expect(dispatched).toBe(2 * DEVICES_PER_AGENT + 1);
    expect(all.filter((job) => job.state === 'dispatched')).toHaveLength(dispatched);
    expect(atSmall.filter((job) => job.state === 'dispatched')).toHaveLength(1);
    expect(all.filter((job) => job.state === 'dispatched').every((job) => job.attempt === 1)).toBe(true);

    await eventually(async () => orders.size === dispatched, 10_000);
    // Give a duplicate time to arrive, then count again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(orders.size).toBe(dispatched);
    for (const [jobId, received] of orders) {
      expect(received, jobId).toHaveLength(1);
    }

    // A further tick dispatches nothing new while the limit is taken.
    expect(await tickBoth()).toBe(0);
  });

  it('sends orders the agent can verify with its config’s key, for its own device and window', async () => {
    const all = await jobs();
    for (const agent of agents) {
      const keys = configs.get(agent.identity.agentId) ?? [];
      const own = all.filter((job) => job.agent_id === agent.identity.agentId);
      expect(own.length).toBeGreaterThan(0);
      for (const job of own) {
        const envelope = must(orders.get(job.id)?.[0], `the order of job ${job.id}`);
        expect(envelope.agentId).toBe(agent.identity.agentId);
        const order = envelope.body;
        expect(verifyWorkOrderSignature(order, keys)).toMatchObject({ ok: true });
        expect(verifyWorkOrderSignature({ ...order, attempt: 2 }, keys)).toEqual({
          ok: false,
          reason: 'BAD_SIGNATURE',
        });
        expect(order).toMatchObject({ agentId: agent.identity.agentId, campaignId, attempt: 1 });
        expect(order.action).toMatchObject({ kind: 'firmware_update', artifact: { version: '12.3.0' } });
        expect(Date.parse(order.deadline)).toBeLessThanOrEqual(Date.parse(order.window.endUtc) - 300_000);
        expect(Date.parse(order.window.startUtc)).toBeLessThanOrEqual(windowStart.getTime() + MINUTE);
      }
    }
  });
});

describe('progress on jobs/progress', () => {
  it('moves jobs: running, succeeded with the firmware read back, failed, refused outside its window', async () => {
    const newYork = must(agents[0], 'the New York agent');
    const own = (await jobs()).filter((job) => job.agent_id === newYork.identity.agentId);
    const done = must(own[0], 'a job');
    const broken = must(own[1], 'a second job');
    const early = must(own[2], 'a third job');
    const at = new Date(windowStart.getTime() + 2 * MINUTE).toISOString();
    const base = (job: { id: string }) => ({ jobId: job.id, campaignId, attempt: 1, at });
    await reportProgress(newYork, { ...base(done), state: 'accepted', adapter: 'simulator' });
    // Wait for the ack of this very report (seq numbers follow the config applied before).
    const running = await reportProgress(newYork, {
      ...base(done),
      state: 'running',
      step: 'apply',
      percent: 40,
    });
    await newYork.waitForAck(running);
    expect((await jobs()).find((job) => job.id === done.id)?.state).toBe('running');
    await reportProgress(newYork, { ...base(done), state: 'succeeded', firmwareVersion: '12.3.0' });
    await reportProgress(newYork, {
      ...base(broken),
      state: 'failed',
      reason: 'FIRMWARE_NOT_UPDATED',
      step: 'verify',
      firmwareVersion: '12.1.2',
      detail: 'the device came back on its old firmware',
    });
    const last = await reportProgress(newYork, {
      ...base(early),
      state: 'refused',
      reason: 'OUTSIDE_WINDOW',
      detail: 'the agent’s clock says the window has not opened',
    });
    await newYork.waitForAck(last);
    const rows = await owner.query(
      `SELECT id, state::text AS state, result, started_at, finished_at FROM patch_jobs WHERE id = ANY($1::uuid[])`,
      [[done.id, broken.id, early.id]],
    );
    const byId = new Map(rows.rows.map((row) => [row.id, row]));
    expect(byId.get(done.id)).toMatchObject({ state: 'succeeded', result: { firmwareVersion: '12.3.0' } });
    expect(byId.get(done.id).finished_at).not.toBeNull();
    expect(byId.get(broken.id)).toMatchObject({
      state: 'failed',
      result: { reason: 'FIRMWARE_NOT_UPDATED', step: 'verify', firmwareVersion: '12.1.2' },
    });
    expect(byId.get(early.id)).toMatchObject({ state: 'deferred', result: { reason: 'OUTSIDE_WINDOW' } });
    const history = await owner.query(
      `SELECT source, state FROM patch_job_events WHERE job_id = $1 ORDER BY id`,
      [done.id],
    );
    expect(history.rows).toEqual([
      { source: 'dispatcher', state: 'dispatched' },
      { source: 'agent', state: 'accepted' },
      { source: 'agent', state: 'running' },
      { source: 'agent', state: 'succeeded' },
    ]);
  });

  it('is applied once when the agent sends it again', async () => {
    const newYork = must(agents[0], 'the New York agent');
    const agentId = newYork.identity.agentId;
    const before = await owner.query(`SELECT count(*)::int AS n FROM patch_job_events`);
    const seq = reports.reuseLastSeq(newYork);
    const job = must(
      (await jobs()).find((row) => row.agent_id === agentId && row.state === 'succeeded'),
      'a succeeded job',
    );
    await reportProgress(newYork, {
      jobId: job.id,
      campaignId,
      attempt: 1,
      at: new Date().toISOString(),
      state: 'succeeded',
    });
    await newYork.waitForAck(seq);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await owner.query(`SELECT count(*)::int AS n FROM patch_job_events`)).rows[0].n).toBe(
      before.rows[0].n,
    );
  });

  it('about another agent’s, another tenant’s or an unknown job is dead-lettered, and the ack moves on', async () => {
    const newYork = must(agents[0], 'the New York agent');
    const chicagoAgent = must(agents[1], 'the Chicago agent');
    const chicagoJob = must(
      (await jobs()).find(
        (job) => job.agent_id === chicagoAgent.identity.agentId && job.state === 'dispatched',
      ),
      'a dispatched Chicago job',
    );
    const at = new Date().toISOString();
    const mismatch = await reportProgress(newYork, {
      jobId: chicagoJob.id,
      campaignId,
      attempt: 1,
      at,
      state: 'failed',
      reason: 'APPLY_FAILED',
      detail: 'not mine to report',
    });
    const unknown = await reportProgress(newYork, {
      jobId: randomUUID(),
      campaignId,
      attempt: 1,
      at,
      state: 'succeeded',
    });
    await newYork.waitForAck(unknown);
    const foreign = await reportProgress(outsider, {
      jobId: chicagoJob.id,
      campaignId,
      attempt: 1,
      at,
      state: 'succeeded',
    });
    await outsider.waitForAck(foreign);
    expect((await jobs()).find((job) => job.id === chicagoJob.id)?.state).toBe('dispatched');
    const letters = await owner.query(
      `SELECT claimed_agent_id, seq, reason FROM dead_letters WHERE reason IN ('UNKNOWN_JOB', 'JOB_AGENT_MISMATCH')
        ORDER BY id`,
    );
    expect(letters.rows).toEqual([
      { claimed_agent_id: newYork.identity.agentId, seq: String(mismatch), reason: 'JOB_AGENT_MISMATCH' },
      { claimed_agent_id: newYork.identity.agentId, seq: String(unknown), reason: 'UNKNOWN_JOB' },
      { claimed_agent_id: outsider.identity.agentId, seq: String(foreign), reason: 'UNKNOWN_JOB' },
    ]);
    // The practice sees its own refusals; the other practice's is not in its list.
    const seen = await expectOk(practice.api.get(`/dead-letters?tenantId=${practice.tenant.id}`));
    expect(JSON.stringify(seen)).not.toContain(outsider.identity.agentId);
  });
});

describe('after the window', () => {
  it('rolls unfinished and deferred jobs to their next window, never drops them, and dispatches them there', async () => {
    const before = await jobs();
    const finished = before.filter((job) => ['succeeded', 'failed'].includes(job.state)).map((job) => job.id);
    setClock(new Date(windowEnd.getTime() + MINUTE));
    expect(await tickBoth()).toBe(0);
    const after = await jobs();
    expect(after).toHaveLength(before.length);
    for (const job of after) {
      if (finished.includes(job.id)) continue;
      expect(job.state, job.id).toBe('planned');
    }
    const moved = await owner.query(
      `SELECT window_start, rollovers FROM patch_jobs WHERE campaign_id = $1 AND state = 'planned' AND rollovers > 0`,
      [campaignId],
    );
    expect(moved.rows.length).toBeGreaterThan(0);
    for (const row of moved.rows) expect(row.window_start.getTime()).toBeGreaterThan(windowEnd.getTime());
    const events = await owner.query(
      `SELECT count(*)::int AS n FROM patch_job_events WHERE source = 'dispatcher' AND state = 'deferred'`,
    );
    expect(events.rows[0].n).toBeGreaterThan(0);

    // The next night they go out again, with the next attempt.
    const next = await owner.query(
      `SELECT min(window_start) AS start FROM patch_jobs WHERE campaign_id = $1 AND site_id = $2 AND state = 'planned'`,
      [campaignId, practice.site.id],
    );
    setClock(new Date(next.rows[0].start.getTime() + MINUTE));
    await tickBoth();
    const again = (await jobs()).filter(
      (job) => job.site_id === practice.site.id && job.state === 'dispatched',
    );
    expect(again.length).toBeGreaterThan(0);
    expect(again.every((job) => job.attempt === 2)).toBe(true);
  });
});
