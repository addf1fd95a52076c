// Two control-plane processes on one PostgreSQL database and one broker (a Mosquitto of the test's own), their
// dispatchers ticking every second on the real clock, and three real agents (the built CLI with simulated clinics)
// at sites whose maintenance window is open now: every job of a campaign goes out exactly once, counted on the
// broker by a subscriber that sees every work order and in the database's job history, and ends succeeded with
// the new firmware read back. Two processes share a database, which the embedded PGlite of one process cannot be,
// so this test uses the PostgreSQL server (TEST_DATABASE_URL, or the local one).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '@medfleet/contracts';
import { ownMosquitto, type OwnMosquitto } from '../support/mosquitto.js';
import {
  AGENT,
  CONTROL_PLANE,
  api,
  eventually,
  freePort,
  runToEnd,
  start,
  type RunningProcess,
} from '../support/processes.js';

const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const SITES = [
  { name: 'Coral Gables', county: 'Miami-Dade', timeZone: 'America/New_York' },
  { name: 'Evanston', county: 'Cook', timeZone: 'America/Chicago' },
  { name: 'Pasadena', county: 'Los Angeles', timeZone: 'America/Los_Angeles' },
];

let work: string;
let admin: pg.Client;
let databaseName: string;
let databaseUrl: string;
let broker: OwnMosquitto;
const controlPlanes: { process: RunningProcess; base: string; grpcPort: number }[] = [];
const agents: RunningProcess[] = [];
let watcher: MqttClient;
let apiKey: string;
/** Every work order seen on the broker: job id → attempts received. */
const orders = new Map<string, number[]>();

/** A window from an hour ago to three hours ahead on the site's clock (whole hours, as policies take them). */
function windowAroundNow(timeZone: string): { start: string; end: string } {
  const hour = Number(
    new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' }).format(new Date()),
  );
  const at = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
  return { start: at(hour - 1), end: at(hour + 3) };
}

/** A version above every one given: the highest with `.1` appended. */
function newerThan(versions: string[]): string {
  return `${[...versions].sort(compareVersions).at(-1)}.1`;
}

async function ok<T = any>(response: Promise<{ status: number; body: T }>): Promise<T> {
  const { status, body } = await response;
  if (status >= 300) throw new Error(`expected success, got ${status}: ${JSON.stringify(body)}`);
  return body;
}

async function startControlPlane(shared: Record<string, string>, index: number): Promise<void> {
  const port = await freePort();
  const grpcPort = await freePort();
  const process = start(CONTROL_PLANE, ['serve'], {
    ...shared,
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    GRPC_TLS_PORT: String(await freePort()),
    DATA_DIR: path.join(work, `control-plane-${index}`),
    MQTT_CLIENT_ID: `e2e-replica-${index}-${port}`,
  });
  await process.waitFor(/"msg":"control plane ready"/, 90_000);
  controlPlanes.push({ process, base: `http://127.0.0.1:${port}`, grpcPort });
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'medfleet-replicas-'));
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  databaseName = `medfleet_e2e_replicas_${Date.now()}_${randomBytes(3).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${databaseName}`);
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  databaseUrl = url.toString();

  broker = ownMosquitto(path.join(work, 'broker'), await freePort());
  await broker.start();
  watcher = await mqtt.connectAsync(broker.url, {
    clientId: `e2e-watcher-${broker.port}`,
    reconnectPeriod: 0,
  });
  watcher.on('message', (topic, payload) => {
    const envelope = JSON.parse(payload.toString('utf8')) as { body: { jobId: string; attempt: number } };
    orders.set(envelope.body.jobId, [...(orders.get(envelope.body.jobId) ?? []), envelope.body.attempt]);
  });
  await watcher.subscribeAsync('medfleet/v1/t/+/s/+/a/+/cmd/jobs', { qos: 1 });

  const shared = {
    DATABASE_URL: databaseUrl,
    MQTT_URL: broker.url,
    MQTT_SHARE_GROUP: `e2e-replicas-${broker.port}`,
    // Both replicas unseal the same CA and work-order keys.
    PKI_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    DISPATCH_INTERVAL_SEC: '1',
    LOG_LEVEL: 'info',
  };
  // The first one migrates and bootstraps the organization; the second joins the database as it is.
  await startControlPlane(shared, 1);
  apiKey = (
    await (controlPlanes[0] as { process: RunningProcess }).process.waitFor(/MEDFLEET_API_KEY=(mfk_\S+)/)
  )[1] as string;
  await startControlPlane(shared, 2);
}, 240_000);

afterAll(async () => {
  for (const agent of agents) await agent.stop('SIGKILL');
  for (const controlPlane of controlPlanes) await controlPlane.process.stop('SIGKILL');
  await watcher?.endAsync(true);
  await broker?.stop('SIGKILL');
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('two control-plane processes on one database', () => {
  it('dispatch every job of a campaign exactly once, and the agents finish them all', async () => {
    const [first, second] = controlPlanes as [(typeof controlPlanes)[0], (typeof controlPlanes)[0]];
    const call = <T = any>(method: string, route: string, body?: unknown, key = apiKey) =>
      ok<T>(api<T>(first.base, key, method, route, body));
    const tenant = await call('POST', '/tenants', { name: 'Two Replicas Pediatrics' });
    const sites: { id: string; timeZone: string }[] = [];
    for (const [index, spec] of SITES.entries()) {
      const site = await call('POST', '/sites', {
        tenantId: tenant.id,
        name: spec.name,
        county: spec.county,
        timeZone: spec.timeZone,
      });
      const window = windowAroundNow(spec.timeZone);
      // A few jobs at once per site, so both replicas' ticks keep meeting over the same queue.
      await call('PUT', `/sites/${site.id}/maintenance-policy`, { window, maxConcurrentJobs: 4 });
      sites.push(site);
      // Enrolled through the second replica, run against the shared broker.
      const token = await call('POST', '/enrollment-tokens', { siteId: site.id });
      const stateDir = path.join(work, `agent-${index}`);
      const enrolled = await runToEnd(AGENT, [
        'enroll',
        '--server',
        `127.0.0.1:${second.grpcPort}`,
        '--token',
        token.token,
        '--state-dir',
        stateDir,
        '--insecure',
      ]);
      expect(enrolled.code, enrolled.output).toBe(0);
      const agentId = (enrolled.output.match(/enrolled as agent (\S+)/) as RegExpMatchArray)[1] as string;
      const agent = start(
        AGENT,
        ['run', '--state-dir', stateDir, '--devices', '40', '--simulate-seed', `replicas-${index}`],
        {
          MEDFLEET_LOG_LEVEL: 'info',
        },
      );
      agents.push(agent);
      await agent.waitFor(/agent started/, 30_000);
      await call('PUT', `/agents/${agentId}/config`, {
        inventoryIntervalSec: 5,
        healthIntervalSec: 10,
        maintenance: { windows: [{ days: EVERY_DAY, ...window }] },
      });
    }

    // The most common model across the three clinics is the campaign's target.
    const devices = await eventually(async () => {
      const listed = await call('GET', `/devices?tenantId=${tenant.id}&limit=500`);
      const items = (
        listed.items as { siteId: string; vendor: string; model: string; firmwareVersion: string }[]
      ).filter((item) => item.model && item.firmwareVersion);
      // Each clinic's whole inventory (40 devices) is in.
      return items.length === 40 * SITES.length && items;
    }, 60_000);
    const counts = new Map<string, typeof devices>();
    for (const item of devices)
      counts.set(`${item.vendor}\u0000${item.model}`, [
        ...(counts.get(`${item.vendor}\u0000${item.model}`) ?? []),
        item,
      ]);
    const targeted = [...counts.values()].sort((a, b) => b.length - a.length)[0] as typeof devices;
    const { vendor, model } = targeted[0] as (typeof devices)[0];
    const version = newerThan(targeted.map((item) => item.firmwareVersion));

    // A practice administrator approves it, as the practice must.
    const password = `Pw-${randomBytes(12).toString('base64url')}`;
    const email = `admin-${randomBytes(4).toString('hex')}@replicas.example`;
    await call('POST', '/users', {
      email,
      displayName: 'Practice admin',
      role: 'practice_admin',
      tenantId: tenant.id,
      password,
    });
    const login = await fetch(`${first.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: 'default', email, password }),
    });
    expect(login.status).toBe(200);
    const session = ((await login.json()) as { session: { token: string } }).session.token;

    const campaign = await call('POST', '/campaigns', {
      name: 'Two replicas',
      tenantIds: [tenant.id],
      target: { vendor, models: [model], firmware: { max: version } },
      artifact: {
        version,
        sha256: 'f'.repeat(64),
        signature: Buffer.from('signed by the vendor').toString('base64'),
        sizeBytes: 1_048_576,
      },
      waves: [{ percent: 100 }],
      successRatePercent: 50,
      abort: { failurePercent: 90, minExecuted: 50 },
      catchUp: { mode: 'same-window', maxRollovers: 3 },
      durations: { minutesByModel: { [model]: 2 }, marginMinutes: 0 },
      earliestStart: new Date().toISOString(),
      horizonDays: 2,
    });
    await call('POST', `/campaigns/${campaign.id}/approve`, {}, session);
    await call('POST', `/campaigns/${campaign.id}/start`);

    const query = new pg.Client({ connectionString: databaseUrl });
    await query.connect();
    try {
      const jobs = await query.query(`SELECT id FROM patch_jobs WHERE campaign_id = $1`, [campaign.id]);
      expect(jobs.rows.length).toBe(targeted.length);
      const finished = await eventually(async () => {
        const rows = await query.query(
          `SELECT id, state::text AS state, attempt, result FROM patch_jobs WHERE campaign_id = $1`,
          [campaign.id],
        );
        return rows.rows.every((row) => row.state === 'succeeded') && rows.rows;
      }, 240_000);
      for (const job of finished) {
        expect(job.result.firmwareVersion, job.id).toBe(version);
        expect(orders.get(job.id), `work orders of job ${job.id}`).toEqual([1]);
      }
      const dispatches = await query.query(
        `SELECT job_id, count(*)::int AS n FROM patch_job_events
          WHERE source = 'dispatcher' AND state = 'dispatched' AND job_id = ANY($1::uuid[]) GROUP BY job_id`,
        [finished.map((job) => job.id)],
      );
      expect(dispatches.rows).toHaveLength(finished.length);
      for (const row of dispatches.rows) expect(row.n, row.job_id).toBe(1);
    } finally {
      await query.end();
    }
    // Both replicas were dispatching all along (each answered its ticks without error).
    for (const controlPlane of controlPlanes) {
      expect(controlPlane.process.output()).not.toMatch(/dispatch (tick )?failed/);
    }
  }, 420_000);
});
