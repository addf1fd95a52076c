// Delivery end to end (issue 4, "Tests"), as real processes: the built control plane, a Mosquitto of the
// test's own (killed and restarted on the same port), real PostgreSQL when TEST_DATABASE_URL is set (the
// embedded PGlite otherwise), and edge agents whose durable outbox and seq file are the built agent's
// (support/agent-driver.mjs). The database must end up with every message of an agent exactly once.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  declaredLost,
  ingestedMessages,
  query,
  startDriver,
  type DriverStatus,
  type IngestedRow,
  type RunningDriver,
} from '../support/delivery-harness.js';
import { ownMosquitto, type OwnMosquitto } from '../support/mosquitto.js';
import {
  AGENT,
  CONTROL_PLANE,
  api,
  freePort,
  runToEnd,
  start,
  testDatabase,
  type RunningProcess,
} from '../support/processes.js';

/** Messages per second the agent is asked for; the control plane commits one transaction per message. */
const RATE = 400;
const TOTAL = 10_000;
/** A day of one agent's reports at the default intervals: health every 60 s, inventory every 300 s. */
const DAY_OF_REPORTS = 86_400 / 60 + 86_400 / 300;

let work: string;
let database: Awaited<ReturnType<typeof testDatabase>>;
let databaseUrl: string;
let env: Record<string, string>;
let broker: OwnMosquitto;
let controlPlane: RunningProcess | null = null;
let base: string;
let apiKey: string;
let siteId: string;
const drivers: RunningDriver[] = [];

async function startControlPlane(): Promise<RunningProcess> {
  const process = start(CONTROL_PLANE, ['serve'], env);
  await process.waitFor(/"msg":"control plane ready"/, 60_000);
  return process;
}

/** Enrolls a new agent with the real CLI; returns its state directory and id. */
async function enrollAgent(name: string): Promise<{ stateDir: string; agentId: string }> {
  const token = await api(base, apiKey, 'POST', '/enrollment-tokens', { siteId });
  expect(token.status).toBe(201);
  const stateDir = path.join(work, name);
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
  const agentId = (enrolled.output.match(/enrolled as agent (\S+)/) as RegExpMatchArray)[1] as string;
  return { stateDir, agentId };
}

function agentProcess(stateDir: string): RunningDriver {
  const driver = startDriver({
    DRIVER_STATE_DIR: stateDir,
    DRIVER_RECONNECT_MAX_MS: '2000',
    DRIVER_RESEND_INTERVAL_MS: '5000',
  });
  drivers.push(driver);
  return driver;
}

const seqFile = (stateDir: string) =>
  JSON.parse(readFileSync(path.join(stateDir, 'seq.json'), 'utf8')) as {
    lastSeq: number;
    lastAckedSeq: number;
  };

const agentRow = async (agentId: string) =>
  (
    await query<{ acked_seq: string; messages_applied: string }>(
      databaseUrl,
      'SELECT acked_seq, messages_applied FROM agents WHERE id = $1',
      [agentId],
    )
  )[0] as { acked_seq: string; messages_applied: string };

/**
 * Waits until the agent holds nothing unacknowledged. A slow drain is not a failure (the machine may be busy);
 * a stall is: no acknowledgement for `stallMs`. The error then says which side stalled: what the control
 * plane committed and acked (agents.acked_seq) against what the agent applied, with both processes' last words.
 */
async function drained(agent: RunningDriver, agentId: string, stallMs: number): Promise<DriverStatus> {
  let ackedSeq = -1;
  let movedAt = Date.now();
  const isDrained = (s: DriverStatus) => s.lastAckedSeq === s.lastSeq && s.outboxDepth === 0;
  const status = await agent.until(
    (s) => {
      if (s.lastAckedSeq !== ackedSeq) {
        ackedSeq = s.lastAckedSeq;
        movedAt = Date.now();
      }
      return isDrained(s) || Date.now() - movedAt > stallMs;
    },
    'every seq acked, or a stall',
    300_000,
  );
  if (isDrained(status)) return status;
  const row = await agentRow(agentId).catch(() => undefined);
  const [rows] = await query<{ n: string; max: string | null }>(
    databaseUrl,
    'SELECT count(*) AS n, max(seq) AS max FROM ingested_messages WHERE agent_id = $1',
    [agentId],
  ).catch(() => [undefined]);
  throw new Error(
    `stalled for ${stallMs} ms: control plane committed ${rows?.n} rows (max seq ${rows?.max}), ` +
      `acked_seq ${row?.acked_seq}; agent ${JSON.stringify(status)}\n` +
      `--- control plane ---\n${controlPlane?.output().slice(-4000)}\n--- agent ---\n${agent.output().slice(-4000)}`,
  );
}

/** Seqs from 1 to lastSeq with no row, and seqs with more than one (impossible by the key, checked anyway). */
function holes(rows: IngestedRow[], lastSeq: number): { missing: number[]; duplicated: number[] } {
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(row.seq, (counts.get(row.seq) ?? 0) + 1);
  const missing: number[] = [];
  for (let seq = 1; seq <= lastSeq; seq += 1) if (!counts.has(seq)) missing.push(seq);
  const duplicated = [...counts].filter(([, count]) => count > 1).map(([seq]) => seq);
  return { missing, duplicated };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'medfleet-delivery-'));
  database = await testDatabase();
  broker = ownMosquitto(path.join(work, 'mosquitto'), await freePort());
  await broker.start();
  const port = await freePort();
  const pgPort = await freePort();
  env = {
    PORT: String(port),
    GRPC_PORT: String(await freePort()),
    GRPC_TLS_PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(pgPort),
    DATA_DIR: path.join(work, 'control-plane'),
    MQTT_URL: broker.url,
    // A fixed client id and a session that outlives a restart: what the broker queued for the consumer
    // while it was down is delivered when it comes back.
    MQTT_CLIENT_ID: `e2e-delivery-${port}`,
    MQTT_SHARE_GROUP: `e2e-delivery-${port}`,
    MQTT_SESSION_EXPIRY_SEC: '300',
    LOG_LEVEL: 'info',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
  };
  databaseUrl = database.url ?? `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
  base = `http://127.0.0.1:${port}`;
  controlPlane = await startControlPlane();
  apiKey = (await controlPlane.waitFor(/MEDFLEET_API_KEY=(mfk_\S+)/))[1] as string;
  const tenant = await api(base, apiKey, 'POST', '/tenants', { name: 'Hialeah Family Clinic' });
  const site = await api(base, apiKey, 'POST', '/sites', {
    tenantId: tenant.body.id,
    name: 'Hialeah – W 49th St',
    county: 'Miami-Dade',
    state: 'FL',
    timeZone: 'America/New_York',
  });
  expect(site.status).toBe(201);
  siteId = site.body.id;
});

afterAll(async () => {
  for (const driver of drivers) await driver.kill().catch(() => undefined);
  await controlPlane?.stop('SIGKILL');
  await broker?.stop('SIGKILL');
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('delivery', () => {
  it('10,000 messages through kill -9 of the agent, a broker restart and a control-plane crash: each in the database exactly once', async () => {
    const { stateDir, agentId } = await enrollAgent('agent-faults');
    const faults: string[] = [];
    let agent = agentProcess(stateDir);
    const produceAll = () => agent.produce(TOTAL, RATE, 120_000);
    // A killed agent's request dies with it; the restarted one is asked again.
    produceAll().catch(() => undefined);

    await agent.until((s) => s.lastSeq >= 1_500, 'seq 1,500', 30_000);

    await agent.kill();
    faults.push(`agent SIGKILL at seq ~${agent.latest()?.lastSeq}`);
    agent = agentProcess(stateDir);
    produceAll().catch(() => undefined);

    await agent.until((s) => s.lastSeq >= 4_000, 'seq 4,000', 30_000);

    await broker.stop('SIGTERM');
    faults.push(`broker restart at seq ~${agent.latest()?.lastSeq}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await broker.start();

    await agent.until((s) => s.lastSeq >= 6_000, 'seq 6,000', 30_000);

    await controlPlane?.stop('SIGKILL');
    faults.push(`control plane SIGKILL at seq ~${agent.latest()?.lastSeq}`);
    controlPlane = await startControlPlane();
    await agent.until((s) => s.lastSeq >= 8_000, 'seq 8,000', 60_000);

    await agent.kill();
    faults.push(`agent SIGKILL at seq ~${agent.latest()?.lastSeq}`);
    agent = agentProcess(stateDir);
    const produced = await produceAll();

    expect(produced.lastSeq).toBeGreaterThanOrEqual(TOTAL);

    await drained(agent, agentId, 30_000);
    const final: DriverStatus = await agent.stop();
    const lastSeq = seqFile(stateDir).lastSeq;
    expect(final.lastSeq).toBe(lastSeq);
    expect(seqFile(stateDir).lastAckedSeq).toBe(lastSeq);

    const rows = await ingestedMessages(databaseUrl, agentId);
    expect(holes(rows, lastSeq)).toEqual({ missing: [], duplicated: [] });
    expect(rows.at(-1)?.seq).toBe(lastSeq);
    expect(rows.filter((row) => row.outcome === 'dead_lettered')).toEqual([]);
    // Skipped only where the agent declared seqs lost at a restart (a seq reserved and fsync'd in seq.json
    // but killed before the outbox stored it), and at most one per kill.
    const output = drivers.map((driver) => driver.output()).join('\n');
    const declared = declaredLost(output);
    const skipped = rows.filter((row) => row.outcome === 'skipped').map((row) => row.seq);
    expect(skipped.filter((seq) => !declared.includes(seq))).toEqual([]);
    expect(skipped.length).toBeLessThanOrEqual(2);
    const row = await agentRow(agentId);
    expect(Number(row.acked_seq)).toBe(lastSeq);
    // Applied once each: the counter moves only for a first commit, never for a replay.
    expect(Number(row.messages_applied)).toBe(rows.filter((r) => r.outcome === 'applied').length);
    console.info(
      `delivery: ${lastSeq} seqs, ${skipped.length} skipped ${JSON.stringify(skipped)}; faults: ${faults.join(', ')}`,
    );
  }, 300_000);

  it('a day without the broker, whose state is lost: the backlog drains on return, each seq once, the newest report wins', async () => {
    const { stateDir, agentId } = await enrollAgent('agent-offline');
    const agent = agentProcess(stateDir);
    const warmUp = await agent.produce(50, RATE, 30_000);
    await drained(agent, agentId, 30_000);

    // The broker dies with everything it held (sessions, subscriptions, queued messages) and is away for
    // as long as a day of reports takes: health every 60 s and inventory every 300 s, 1,728 messages. Half
    // way through the day a device's firmware changes: only the later snapshots report the new version.
    await broker.stop('SIGKILL');
    broker.forget();
    const halfDay = warmUp.lastSeq + Math.floor(DAY_OF_REPORTS / 2);
    await agent.produce(halfDay, RATE * 2, 60_000);
    const { mac } = await agent.setFirmware(0, '99.1.0');
    const offline = await agent.produce(warmUp.lastSeq + DAY_OF_REPORTS, RATE * 2, 60_000);
    expect(offline.connected).toBe(false);
    expect(offline.outboxDepth).toBe(offline.lastSeq - warmUp.lastSeq);
    await broker.start();

    await drained(agent, agentId, 30_000);
    const final = await agent.stop();
    const rows = await ingestedMessages(databaseUrl, agentId);
    expect(holes(rows, final.lastSeq)).toEqual({ missing: [], duplicated: [] });
    expect(rows.filter((row) => row.outcome !== 'applied')).toEqual([]);
    // The day is applied in its order: what the control plane shows is the newest report, never an older
    // snapshot committed after it (a message lost on the way and sent again is committed late).
    const [stored] = await query<{ firmware_version: string }>(
      databaseUrl,
      'SELECT firmware_version FROM devices WHERE mac = $1::macaddr AND reporting_agent_id = $2',
      [mac, agentId],
    );
    expect(stored?.firmware_version).toBe('99.1.0');
    expect(Number((await agentRow(agentId)).acked_seq)).toBe(final.lastSeq);
  }, 240_000);
});
