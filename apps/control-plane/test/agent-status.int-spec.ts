// Agent status and silence alerts, with short intervals: the real agent process goes online, is killed,
// turns offline and raises an alert, comes back and the alert resolves; approval and revocation show as
// statuses; two control planes sweeping one database open one alert; alerts stay inside their tenant.
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/app-config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { freePort } from '../src/infra/embedded-postgres.js';
import { createLogger } from '../src/infra/logger.js';
import { AgentSilenceSweeper } from '../src/modules/alerts/agent-silence.sweeper.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import { enrollAgentProcess, type AgentProcess } from './support/edge-agent-process.js';
import { signInAs } from './support/identity-session.js';
import {
  createTenantSession,
  device,
  eventually,
  expectOk,
  type TenantSession,
} from './support/tenant-session.js';
import { realBroker, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

/** Silent after 2 × 1 s + 1 s; swept every second. */
const SHORT = {
  AGENT_HEALTH_INTERVAL_SEC: '1',
  AGENT_SILENCE_INTERVALS: '2',
  AGENT_SILENCE_GRACE_SEC: '1',
  AGENT_SILENCE_SWEEP_SEC: '1',
};

let cp: TestControlPlane;
let owner: pg.Client;
let session: TenantSession;
let agent: AgentProcess;

beforeAll(async () => {
  cp = await startTestControlPlane(SHORT);
  owner = await cp.owner();
  session = await createTenantSession(cp);
  agent = await enrollAgentProcess(cp.grpcAddress, await session.createToken());
});

afterAll(async () => {
  await agent?.remove();
  await owner?.end();
  await cp?.stop();
});

const view = (id: string) => expectOk(session.api.get(`/agents/${id}`));
const idsWith = async (status: string) =>
  (await expectOk(session.api.get(`/agents?tenantId=${session.tenant.id}&status=${status}`))).items.map(
    (a: { id: string }) => a.id,
  );
const alertsOf = async (agentId: string, query = '') =>
  (await expectOk(session.api.get(`/alerts?agentId=${agentId}${query}`))).items as {
    id: string;
    state: string;
    agentId: string;
    tenantId: string;
    openedAt: string;
    resolvedAt: string | null;
    silenceThresholdSec: number;
  }[];
const auditCount = async (action: string, alertIds: string[]) => {
  const { rows } = await owner.query(
    `SELECT count(*)::int AS n FROM audit_entries WHERE action = $1 AND target_id = ANY($2::text[])`,
    [action, alertIds],
  );
  return rows[0].n as number;
};

describe('status and silence alerts with the real agent', () => {
  it('online → offline → alert opened → agent returns → alert resolved', async () => {
    await agent.start();
    const online = await eventually(async () => {
      const current = await view(agent.agentId);
      return current.status === 'online' ? current : null;
    });
    expect(online).toMatchObject({ silenceThresholdSec: 3, healthIntervalSec: 1 });
    expect(new Date(online.lastSeenAt).getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect(online.lastHealth).toMatchObject({
      agentVersion: expect.any(String),
      outboxDepth: expect.any(Number),
    });
    expect(await idsWith('online')).toContain(agent.agentId);
    expect(await alertsOf(agent.agentId)).toEqual([]);

    await agent.kill();
    await eventually(async () => (await view(agent.agentId)).status === 'offline');
    expect(await idsWith('offline')).toContain(agent.agentId);
    expect(await idsWith('online')).not.toContain(agent.agentId);
    const opened = await eventually(async () => {
      const [open] = await alertsOf(agent.agentId, '&state=open');
      return open ?? null;
    });
    expect(opened).toMatchObject({
      state: 'open',
      tenantId: session.tenant.id,
      resolvedAt: null,
      silenceThresholdSec: 3,
    });
    // Further sweeps open nothing more while it stays silent.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await alertsOf(agent.agentId)).toHaveLength(1);
    expect(await auditCount('agent.alert_open', [opened.id])).toBe(1);

    await agent.start();
    const resolved = await eventually(async () => {
      const [alert] = await alertsOf(agent.agentId, '&state=resolved');
      return alert ?? null;
    });
    expect(resolved.id).toBe(opened.id);
    expect(new Date(resolved.resolvedAt as string).getTime()).toBeGreaterThanOrEqual(
      new Date(resolved.openedAt).getTime(),
    );
    expect((await view(agent.agentId)).status).toBe('online');
    expect(await alertsOf(agent.agentId, '&state=open')).toEqual([]);
    expect(await auditCount('agent.alert_resolve', [opened.id])).toBe(1);
    // The health the agent reported while its messages waited shows how long the oldest one waited.
    expect((await view(agent.agentId)).lastHealth).toHaveProperty('outboxDepth');
  });

  it('shows pending, rejected and revoked agents as such, filters by them, and alerts for none of them', async () => {
    const pending = await session.enrollAgent();
    const rejected = await session.enrollAgent();
    const revoked = await session.enrollAgent();
    const silentNeverSeen = await session.enrollAgent();
    await Promise.all([pending, rejected, revoked, silentNeverSeen].map((a) => a.close()));
    await owner.query(`UPDATE agents SET approval_state = 'pending' WHERE id = $1`, [
      pending.identity.agentId,
    ]);
    await owner.query(`UPDATE agents SET approval_state = 'rejected' WHERE id = $1`, [
      rejected.identity.agentId,
    ]);
    await expectOk(session.api.post(`/agents/${revoked.identity.agentId}/revoke`));

    expect((await view(pending.identity.agentId)).status).toBe('pending');
    expect((await view(rejected.identity.agentId)).status).toBe('rejected');
    expect((await view(revoked.identity.agentId)).status).toBe('revoked');
    expect(await idsWith('pending')).toEqual([pending.identity.agentId]);
    expect(await idsWith('rejected')).toEqual([rejected.identity.agentId]);
    expect(await idsWith('revoked')).toEqual([revoked.identity.agentId]);
    expect((await session.api.get('/agents?status=asleep')).body.error.code).toBe('VALIDATION_FAILED');

    // An approved agent that never reported is silent too, once its enrollment is older than the rule.
    await eventually(
      async () => (await alertsOf(silentNeverSeen.identity.agentId, '&state=open')).length === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const quiet of [pending, rejected, revoked]) {
      expect(await alertsOf(quiet.identity.agentId)).toEqual([]);
    }
  });

  it('pages alerts newest first and refuses a forged cursor', async () => {
    const first = await expectOk(session.api.get(`/alerts?tenantId=${session.tenant.id}&limit=1`));
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = await expectOk(
      session.api.get(`/alerts?tenantId=${session.tenant.id}&limit=1&cursor=${first.nextCursor}`),
    );
    expect(second.items[0].id).not.toBe(first.items[0].id);
    expect(new Date(second.items[0].openedAt).getTime()).toBeLessThanOrEqual(
      new Date(first.items[0].openedAt).getTime(),
    );
    const forged = await session.api.get(
      `/alerts?cursor=${Buffer.from('yesterday|x').toString('base64url')}`,
    );
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe('INVALID_CURSOR');
  });

  it('another organization and a sibling tenant see none of these alerts', async () => {
    const ours = await expectOk(session.api.get(`/alerts?tenantId=${session.tenant.id}`));
    expect(ours.items.length).toBeGreaterThanOrEqual(2);
    const other = await cp.app
      .get(OrganizationService)
      .create('Other MSP', `other-${randomUUID().slice(0, 8)}`);
    const outsider = new ApiClient(cp.httpUrl, other.apiKey.token);
    const sibling = await createTenantSession(cp);
    const neighbour = (await signInAs(cp, 'practice_admin', { tenantId: sibling.tenant.id })).api;
    for (const api of [outsider, neighbour]) {
      const all = await expectOk(api.get('/alerts'));
      const targeted = await expectOk(
        api.get(`/alerts?tenantId=${session.tenant.id}&agentId=${agent.agentId}`),
      );
      for (const item of [...all.items, ...targeted.items]) expect(item.tenantId).not.toBe(session.tenant.id);
    }
    // Row-level security alone: a transaction scoped to the sibling tenant reads no alert of ours.
    await owner.query('BEGIN');
    try {
      await owner.query(`SET LOCAL ROLE medfleet_app`);
      await owner.query(`SELECT set_config('medfleet.tenant_ids', $1, true)`, [sibling.tenant.id]);
      const { rows } = await owner.query(`SELECT count(*)::int AS n FROM agent_alerts`);
      expect(rows[0].n).toBe(0);
    } finally {
      await owner.query('ROLLBACK');
    }
  });
});

describe('two control planes on one database', () => {
  let replica: RunningControlPlane;
  let replicaDir: string;

  beforeAll(async () => {
    replicaDir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-replica-'));
    // Replicas share the key that seals the organization CA keys (kept in the data directory by default).
    const sealingKey = path.join(cp.config.DATA_DIR, 'pki', 'ca-key-encryption.key');
    if (existsSync(sealingKey)) {
      mkdirSync(path.join(replicaDir, 'pki'), { recursive: true, mode: 0o700 });
      copyFileSync(sealingKey, path.join(replicaDir, 'pki', 'ca-key-encryption.key'));
    }
    const config = loadConfig({
      PORT: String(await freePort()),
      GRPC_PORT: String(await freePort()),
      GRPC_TLS_PORT: String(await freePort()),
      EMBEDDED_MQTT_PORT: String(await freePort()),
      DATA_DIR: replicaDir,
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
      MQTT_SHARE_GROUP: cp.config.MQTT_SHARE_GROUP,
      MQTT_SESSION_EXPIRY_SEC: '0',
      DB_POOL_SIZE: '2',
      DATABASE_URL: cp.databaseUrl,
      // With the embedded broker the replica runs its own; the database is what they share here.
      ...(realBroker ? { MQTT_URL: realBroker } : {}),
      ...SHORT,
    });
    replica = await startControlPlane(config, createLogger(config.LOG_LEVEL));
  });

  afterAll(async () => {
    await replica?.close();
    rmSync(replicaDir, { recursive: true, force: true });
  });

  it('raise one alert for a silent agent, however their sweeps interleave', async () => {
    const quiet = await session.enrollAgent();
    await quiet.publishInventory(1, [device(7)]);
    await quiet.waitForAck(1);
    await quiet.close();
    const sweepers = [cp.app.get(AgentSilenceSweeper), replica.app.get(AgentSilenceSweeper)];
    const opened: string[] = [];
    const deadline = Date.now() + 15_000;
    while (opened.length === 0 && Date.now() < deadline) {
      const rounds = await Promise.all([...sweepers, ...sweepers].map((sweeper) => sweeper.sweep()));
      opened.push(
        ...rounds
          .flat()
          .filter((a) => a.agent_id === quiet.identity.agentId)
          .map((a) => a.id),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await Promise.all(sweepers.map((sweeper) => sweeper.sweep()));
    const alerts = await alertsOf(quiet.identity.agentId);
    expect(alerts).toHaveLength(1);
    const [alert] = alerts;
    expect(alert?.state).toBe('open');
    // Opened by a sweep call here or by a background sweep of either replica; once either way.
    expect(new Set(opened).size).toBeLessThanOrEqual(1);
    expect(await auditCount('agent.alert_open', [alert?.id ?? ''])).toBe(1);
    const { rows } = await owner.query(`SELECT count(*)::int AS n FROM agent_alerts WHERE agent_id = $1`, [
      quiet.identity.agentId,
    ]);
    expect(rows[0].n).toBe(1);
  });
});
