// The walking skeleton end to end, as real processes: the control plane starts (real PostgreSQL and
// Mosquitto in CI, the embedded default elsewhere), an edge agent enrolls over gRPC and reports its
// simulated clinic over MQTT, and the devices appear in the API; both sides survive restarts.
import { statSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClinic } from '@medfleet/simulator';
import {
  AGENT,
  CONTROL_PLANE,
  api,
  eventually,
  freePort,
  runToEnd,
  start,
  testDatabase,
  type RunningProcess,
} from '../support/processes.js';

const SEED = 'e2e/doral-urgent-care';
const DEVICES = 40;

let work: string;
let database: Awaited<ReturnType<typeof testDatabase>>;
let env: Record<string, string>;
let controlPlane: RunningProcess;
let agent: RunningProcess | null = null;
let base: string;
let apiKey: string;
let ids: { tenantId: string; siteId: string; agentId?: string };

async function startControlPlane(): Promise<RunningProcess> {
  const process = start(CONTROL_PLANE, ['serve'], env);
  await process.waitFor(/"msg":"control plane ready"/, 60_000);
  return process;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'medfleet-e2e-'));
  database = await testDatabase();
  const port = await freePort();
  env = {
    PORT: String(port),
    GRPC_PORT: String(await freePort()),
    GRPC_TLS_PORT: String(await freePort()),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    DATA_DIR: path.join(work, 'control-plane'),
    MQTT_SHARE_GROUP: `e2e-${port}`,
    MQTT_SESSION_EXPIRY_SEC: '0',
    AGENT_INVENTORY_INTERVAL_SEC: '5',
    AGENT_HEALTH_INTERVAL_SEC: '5',
    LOG_LEVEL: 'info',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(process.env.TEST_MQTT_URL ? { MQTT_URL: process.env.TEST_MQTT_URL } : {}),
  };
  base = `http://127.0.0.1:${port}`;
  controlPlane = await startControlPlane();
  apiKey = (await controlPlane.waitFor(/MEDFLEET_API_KEY=(mfk_\S+)/))[1] as string;
});

afterAll(async () => {
  await agent?.stop();
  await controlPlane?.stop();
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const devicesOf = async (tenantId: string) => {
  const all: { mac: string; firmwareVersion: string; siteId: string }[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: typeof all; nextCursor: string | null } } = await api(
      base,
      apiKey,
      'GET',
      `/devices?tenantId=${tenantId}&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    all.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return all;
};

describe('walking skeleton', () => {
  it('an agent enrolls at a new clinic and its devices appear in the API', async () => {
    const tenant = await api(base, apiKey, 'POST', '/tenants', { name: 'Doral Urgent Care' });
    expect(tenant.status).toBe(201);
    const site = await api(base, apiKey, 'POST', '/sites', {
      tenantId: tenant.body.id,
      name: 'Doral – NW 41st St',
      county: 'Miami-Dade',
      state: 'FL',
      timeZone: 'America/New_York',
    });
    ids = { tenantId: tenant.body.id, siteId: site.body.id };
    const token = await api(base, apiKey, 'POST', '/enrollment-tokens', { siteId: site.body.id });
    expect(token.body.token).toMatch(/^mfe_/);

    const stateDir = path.join(work, 'agent');
    const enrolled = await runToEnd(AGENT, [
      'enroll',
      '--server',
      `127.0.0.1:${env.GRPC_PORT}`,
      '--token',
      token.body.token,
      '--state-dir',
      stateDir,
      '--insecure',
    ]);
    expect(enrolled.code, enrolled.output).toBe(0);
    expect(statSync(path.join(stateDir, 'identity.json')).mode & 0o777).toBe(0o600);

    agent = start(AGENT, [
      'run',
      '--state-dir',
      stateDir,
      '--simulate-seed',
      SEED,
      '--devices',
      String(DEVICES),
    ]);
    const expected = createClinic({ seed: SEED, deviceCount: DEVICES }).snapshot(new Date());
    const devices = await eventually(async () => {
      const listed = await devicesOf(ids.tenantId);
      return listed.length === expected.length ? listed : null;
    });
    expect(devices.map((d) => d.mac).sort()).toEqual(expected.map((d) => d.mac).sort());
    expect(devices.every((d) => d.siteId === ids.siteId)).toBe(true);

    const agents = await api(base, apiKey, 'GET', `/agents?siteId=${ids.siteId}`);
    expect(agents.body.items).toHaveLength(1);
    ids.agentId = agents.body.items[0].id;
    expect(agents.body.items[0]).toMatchObject({ status: 'online', tenantId: ids.tenantId });
  });

  it('the same token cannot enroll a second agent (single use by default)', async () => {
    const tokens = await api(base, apiKey, 'GET', `/enrollment-tokens?siteId=${ids.siteId}`);
    expect(tokens.body.items[0]).toMatchObject({ uses: 1, maxUses: 1, state: 'exhausted' });
    expect(JSON.stringify(tokens.body)).not.toMatch(/mfe_|tokenHash/);
  });

  it('a refused enrollment exits non-zero and says why', async () => {
    const result = await runToEnd(AGENT, [
      'enroll',
      '--server',
      `127.0.0.1:${env.GRPC_PORT}`,
      '--token',
      `mfe_${ids.tenantId}_${'x'.repeat(43)}`,
      '--state-dir',
      path.join(work, 'refused-agent'),
      '--insecure',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/TOKEN_INVALID/);
  });

  it('an agent killed with SIGKILL comes back and keeps reporting without double counting', async () => {
    const before = (await api(base, apiKey, 'GET', `/agents/${ids.agentId}`)).body;
    await agent?.stop('SIGKILL');
    agent = start(AGENT, [
      'run',
      '--state-dir',
      path.join(work, 'agent'),
      '--simulate-seed',
      SEED,
      '--devices',
      String(DEVICES),
    ]);
    const after = await eventually(async () => {
      const detail = (await api(base, apiKey, 'GET', `/agents/${ids.agentId}`)).body;
      return detail.ackedSeq > before.ackedSeq + 2 ? detail : null;
    });
    expect(after.messagesApplied).toBeGreaterThan(before.messagesApplied);
    // The restarted agent reports that its previous run ended without a clean stop (no reboot here).
    const events = await eventually(async () => {
      const response = await api(base, apiKey, 'GET', `/agents/${ids.agentId}/events`);
      return response.body.items?.length > 0 ? response.body.items : null;
    });
    expect(events[0]).toMatchObject({
      type: 'agent.recovered',
      body: { reason: 'unclean_shutdown', rebooted: false },
    });
    expect(await devicesOf(ids.tenantId)).toHaveLength(DEVICES);
  });

  it('the control plane restarts on the same database; the agent reconnects; no new API key is minted', async () => {
    await controlPlane.stop();
    const before = Date.now();
    controlPlane = await startControlPlane();
    expect(controlPlane.output()).not.toMatch(/MEDFLEET_API_KEY=/);
    const detail = await eventually(async () => {
      const response = await api(base, apiKey, 'GET', `/agents/${ids.agentId}`);
      return response.status === 200 && new Date(response.body.lastSeenAt).getTime() > before
        ? response.body
        : null;
    });
    expect(detail.status).toBe('online');
    expect(await devicesOf(ids.tenantId)).toHaveLength(DEVICES);
  });
});

describe('configuration', () => {
  it('a bad variable stops the control plane with a message naming it', async () => {
    const result = await runToEnd(CONTROL_PLANE, ['serve'], { PORT: 'eighty', DATABASE_URL: 'mysql://nope' });
    expect(result.code).toBe(78);
    expect(result.output).toMatch(/PORT/);
    expect(result.output).toMatch(/DATABASE_URL/);
  });
});
