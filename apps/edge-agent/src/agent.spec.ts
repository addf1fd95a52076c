// Runs the agent against the real MQTT broker (Mosquitto on 127.0.0.1:1883, or TEST_MQTT_URL).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { seqGapEnvelopeSchema, uplinkTopic, type HealthEnvelope } from '@medfleet/contracts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent, type AgentOptions } from './agent.js';
import { MemoryOutbox } from './outbox.js';
import { sqliteOutbox } from './sqlite-outbox.js';
import { SEQ_FILE, type AgentIdentity } from './state.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs, TEST_MQTT_URL } from './testing/fixtures.js';
import { addressOf, closeControlPlanes, controlPlane } from './testing/control-plane.js';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.js';
import { AGENT_VERSION } from './version.js';

const dirs: string[] = [];
const agents: Agent[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await closeControlPlanes();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await removeDirs(dirs);
});

const waitLong = { timeout: 15_000, interval: 50 };

async function startAgent(identity: AgentIdentity, stateDir: string, options: Partial<AgentOptions> = {}) {
  const { logger, lines } = captureLogger(identity.agentId);
  const agent = new Agent({
    identity,
    stateDir,
    logger,
    simulate: { seed: 'clinic-under-test', deviceCount: 5 },
    resendIntervalMs: 60_000,
    flushTimeoutMs: 200,
    ...options,
    mqtt: { reconnectMinMs: 100, reconnectMaxMs: 400, sessionExpirySec: 10, ...options.mqtt },
  });
  agents.push(agent);
  await agent.start();
  return { agent, lines };
}

async function stateDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}

/** The outbox that loses everything on a stop: its restart behaviour is declaring the lost seqs. */
const inMemory = { outbox: () => new MemoryOutbox() };

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe('Agent against a real MQTT broker', () => {
  it('publishes inventory and health with rising seqs and drops what an ack covers', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 1 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const { agent, lines } = await startAgent(identity, dir);

    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(3), waitLong);
    expect(cp.invalid).toEqual([]);
    expect(cp.seqs()).toEqual(range(1, cp.received.length));
    const [inventory, health] = cp.received;
    expect(inventory?.topic).toBe(uplinkTopic(addressOf(identity), 'inventory'));
    expect(inventory?.envelope).toMatchObject({
      v: 1,
      agentId: identity.agentId,
      type: 'inventory.snapshot',
    });
    expect(inventory?.envelope.body).toMatchObject({ complete: true, devices: expect.any(Array) });
    expect((inventory?.envelope.body as { devices: unknown[] }).devices).toHaveLength(5);
    expect(health?.topic).toBe(uplinkTopic(addressOf(identity), 'health'));
    expect(health?.envelope.body).toMatchObject({
      agentVersion: AGENT_VERSION,
      devicesKnown: 5,
      lastAckedSeq: 0,
    });
    expect(agent.status().pendingSeqs.slice(0, 3)).toEqual([1, 2, 3]);

    // Junk on the command topics is logged and ignored.
    await cp.publish('ack', 'not json');
    await cp.ack(1, randomUUID());
    await cp.publish('jobs', '{"anything": true}');
    await cp.publish('config', Buffer.from([0xff, 0xfe]));
    await vi.waitFor(() => {
      const messages = lines.map((line) => line.msg);
      expect(messages).toContain('invalid ack ignored');
      expect(messages).toContain('ack for another agent ignored');
      // Not a work order: refused by the jobs runner (src/jobs/work-orders.spec.ts has the rest).
      expect(messages).toContain('invalid work order refused');
      // A config that is not one is refused and reported (config.spec.ts has the rest).
      expect(messages).toContain('config rejected; keeping the current one');
    }, waitLong);
    expect(agent.status().lastAckedSeq).toBe(0);

    const ackedSeq = Math.max(...cp.seqs());
    await cp.ack(ackedSeq);
    await vi.waitFor(() => {
      const status = agent.status();
      expect(status.lastAckedSeq).toBe(ackedSeq);
      expect(status.pendingSeqs.every((seq) => seq > ackedSeq)).toBe(true);
    }, waitLong);
    const persisted = JSON.parse(await fs.readFile(path.join(dir, SEQ_FILE), 'utf8')) as {
      lastAckedSeq: number;
    };
    expect(persisted.lastAckedSeq).toBe(ackedSeq);

    // It keeps going, and its health reports carry the new ack.
    await vi.waitFor(() => {
      const later = cp.received.filter((message) => message.envelope.seq > ackedSeq);
      const reported = later.map((message) => (message.envelope as HealthEnvelope).body.lastAckedSeq);
      expect(reported).toContain(ackedSeq);
    }, waitLong);
    expect(cp.seqs()).toEqual(range(1, cp.received.length));
    expect(cp.invalid).toEqual([]);
  });

  it('re-publishes unacknowledged messages after a reconnect, and those produced while offline', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 1 } });
    const cp = await controlPlane(identity);
    const proxy = await startTcpProxy(new URL(TEST_MQTT_URL));
    proxies.push(proxy);
    const { agent, lines } = await startAgent(identity, await stateDir(), { mqtt: { url: proxy.url } });

    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(3), waitLong);
    const seenBefore = [...new Set(cp.seqs())];

    proxy.blocked = true;
    proxy.sever();
    await vi.waitFor(() => expect(agent.status().connected).toBe(false), waitLong);
    const lastBefore = Math.max(...seenBefore);
    await vi.waitFor(() => expect(agent.status().lastSeq).toBeGreaterThanOrEqual(lastBefore + 2), waitLong);
    const producedOffline = range(lastBefore + 1, agent.status().lastSeq);

    proxy.blocked = false;
    await vi.waitFor(() => {
      for (const seq of seenBefore) expect(cp.countOf(seq), `seq ${seq}`).toBeGreaterThanOrEqual(2);
      for (const seq of producedOffline) expect(cp.countOf(seq), `seq ${seq}`).toBeGreaterThanOrEqual(1);
    }, waitLong);
    expect(lines.map((line) => line.msg)).toContain('disconnected from MQTT broker; reconnecting');
    expect(cp.invalid).toEqual([]);

    const last = Math.max(...cp.seqs());
    await cp.ack(last);
    await vi.waitFor(
      () => expect(agent.status().pendingSeqs.every((seq) => seq > last)).toBe(true),
      waitLong,
    );
  });

  it('re-publishes in seq order what stays unacknowledged past the resend interval, and stops once acked', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const { agent } = await startAgent(identity, await stateDir(), { resendIntervalMs: 400 });

    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(6), waitLong);
    expect(cp.seqs().slice(0, 6)).toEqual([1, 2, 1, 2, 1, 2]);
    const envelopes = cp.received
      .filter((message) => message.envelope.seq === 1)
      .map((message) => message.envelope);
    expect(new Set(envelopes.map((envelope) => JSON.stringify(envelope))).size).toBe(1);

    await cp.ack(2);
    await vi.waitFor(() => expect(agent.status().outboxDepth).toBe(0), waitLong);
    const countAfterAck = cp.received.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(cp.received.length).toBe(countAfterAck);
  });

  it('continues its sequence after a restart (in-memory outbox) and keeps a second agent off its state directory', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir, inMemory);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);

    const intruder = new Agent({ identity, stateDir: dir, logger: captureLogger().logger });
    await expect(intruder.start()).rejects.toMatchObject({ code: 'STATE_LOCKED' });

    await first.agent.stop();
    expect(first.agent.status()).toMatchObject({ state: 'stopped', connected: false, lastSeq: 2 });

    const second = await startAgent(identity, dir, inMemory);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3, 4, 5]), waitLong);
    expect(cp.received.slice(2).map((message) => message.envelope.type)).toEqual([
      'agent.seq_gap',
      'inventory.snapshot',
      'health.report',
    ]);
    const lost = second.lines.find((line) => line.msg.includes('lost with the in-memory outbox'));
    expect(lost).toMatchObject({ fromSeq: 1, toSeq: 2 });
    expect(cp.invalid).toEqual([]);
  });

  it('after a restart with unacknowledged seqs lost with the in-memory outbox, first declares them lost in a gap report, cleared by its ack', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const address = addressOf(identity);
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir, inMemory);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    await cp.ack(1);
    await vi.waitFor(() => expect(first.agent.status().lastAckedSeq).toBe(1), waitLong);
    expect(await first.agent.publishHealth()).toBe(3);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3]), waitLong);
    await first.agent.stop();
    const persisted = JSON.parse(await fs.readFile(path.join(dir, SEQ_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(persisted).toMatchObject({ lastSeq: 3, lastAckedSeq: 1 });

    // Seqs 2 and 3 died with the in-memory outbox: the restarted agent declares them before anything else.
    const second = await startAgent(identity, dir, inMemory);
    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(6), waitLong);
    expect(cp.invalid).toEqual([]);
    const [firstAfterRestart, ...rest] = cp.received.slice(3);
    expect(firstAfterRestart?.topic).toBe(uplinkTopic(address, 'events'));
    const report = seqGapEnvelopeSchema.parse(firstAfterRestart?.envelope);
    expect(report).toMatchObject({ v: 1, agentId: identity.agentId, seq: 4, type: 'agent.seq_gap' });
    expect(report.body).toEqual({ reason: 'lost_on_restart', ranges: [{ fromSeq: 2, toSeq: 3 }] });
    expect(report.seq).toBeGreaterThan(3);
    expect(rest.map((message) => [message.envelope.seq, message.envelope.type])).toEqual([
      [5, 'inventory.snapshot'],
      [6, 'health.report'],
    ]);
    expect(second.lines.find((line) => line.msg.includes('lost with the in-memory outbox'))).toMatchObject({
      fromSeq: 2,
      toSeq: 3,
      lostSeqs: 2,
    });

    // The control plane skips 2..3, commits 4 and acks it: the report leaves the outbox, the rest stays.
    expect(second.agent.status().pendingSeqs).toEqual([4, 5, 6]);
    await cp.ack(4);
    await vi.waitFor(() => expect(second.agent.status().pendingSeqs).toEqual([5, 6]), waitLong);
    await cp.ack(6);
    await vi.waitFor(
      () => expect(second.agent.status()).toMatchObject({ outboxDepth: 0, lastAckedSeq: 6 }),
      waitLong,
    );
    expect(cp.gapReports()).toHaveLength(1);
  });

  it('splits a large restart loss into several gap reports, all before the first inventory', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    await fs.writeFile(
      path.join(dir, SEQ_FILE),
      JSON.stringify({ agentId: identity.agentId, lastSeq: 250_010, lastAckedSeq: 10 }),
    );
    await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(5), waitLong);
    expect(cp.invalid).toEqual([]);
    expect(cp.received.map((message) => [message.envelope.seq, message.envelope.type])).toEqual([
      [250_011, 'agent.seq_gap'],
      [250_012, 'agent.seq_gap'],
      [250_013, 'agent.seq_gap'],
      [250_014, 'inventory.snapshot'],
      [250_015, 'health.report'],
    ]);
    expect(cp.gapReports().map((report) => report.body)).toEqual([
      { reason: 'lost_on_restart', ranges: [{ fromSeq: 11, toSeq: 100_010 }] },
      { reason: 'lost_on_restart', ranges: [{ fromSeq: 100_011, toSeq: 200_010 }] },
      { reason: 'lost_on_restart', ranges: [{ fromSeq: 200_011, toSeq: 250_010 }] },
    ]);
  });

  it('declares what a full outbox evicts in a gap report with merged ranges, cleared by its ack', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const { agent, lines } = await startAgent(identity, await stateDir(), {
      outbox: new MemoryOutbox({ maxMessages: 4 }),
    });
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    for (let i = 0; i < 4; i += 1) await agent.publishHealth();

    // 5 evicted 2, and the report on it (6) evicted 3, so 7 replaced 6; then 8 evicted 4 and 9 replaced 7.
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]), waitLong);
    expect(cp.invalid).toEqual([]);
    expect(agent.status()).toMatchObject({ pendingSeqs: [1, 5, 8, 9], evicted: { health: 3 } });
    const reports = cp.gapReports();
    expect(reports.map((report) => report.seq)).toEqual([6, 7, 9]);
    const last = seqGapEnvelopeSchema.parse(reports.at(-1));
    expect(last.body).toEqual({
      reason: 'evicted',
      ranges: [
        { fromSeq: 2, toSeq: 4 },
        { fromSeq: 6, toSeq: 7 },
      ],
    });
    expect(cp.received.find((message) => message.envelope.seq === 9)?.topic).toBe(
      uplinkTopic(addressOf(identity), 'events'),
    );
    expect(lines.map((line) => line.msg)).toContain(
      'outbox full: oldest unacknowledged health reports dropped',
    );

    await cp.ack(9);
    await vi.waitFor(
      () => expect(agent.status()).toMatchObject({ outboxDepth: 0, lastAckedSeq: 9, undeclaredGapSeqs: 0 }),
      waitLong,
    );
  });

  it('speaks MQTT 3.1.1 when the identity says so (brokers without MQTT 5, like the embedded one)', async () => {
    const base = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const identity = { ...base, mqtt: { ...base.mqtt, protocolVersion: 4 as const } };
    const cp = await controlPlane(identity);
    const { agent } = await startAgent(identity, await stateDir());
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    await cp.ack(2);
    await vi.waitFor(
      () => expect(agent.status()).toMatchObject({ outboxDepth: 0, lastAckedSeq: 2 }),
      waitLong,
    );
  });
  it('replays exactly the unacknowledged messages from the durable outbox after a restart, in order and byte for byte', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    await cp.ack(1);
    await vi.waitFor(() => expect(first.agent.status().lastAckedSeq).toBe(1), waitLong);
    expect(await first.agent.publishHealth()).toBe(3);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3]), waitLong);
    await first.agent.stop();
    expect(first.agent.status()).toMatchObject({ outboxDurable: true, pendingSeqs: [2, 3] });
    expect((await fs.readdir(dir)).sort()).toEqual(['outbox.db', 'seq.json']);

    const second = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3, 2, 3, 4, 5]), waitLong);
    expect(cp.received.slice(3).map((message) => message.envelope.type)).toEqual([
      'health.report',
      'health.report',
      'inventory.snapshot',
      'health.report',
    ]);
    // The very same bytes: the control plane sees an exact duplicate and answers it as a replay.
    expect(cp.received[3]?.payload).toEqual(cp.received[1]?.payload);
    expect(cp.received[4]?.payload).toEqual(cp.received[2]?.payload);
    expect(cp.gapReports()).toEqual([]);
    const messages = second.lines.map((line) => line.msg);
    expect(messages).toContain('unacknowledged messages from before the restart will be replayed in order');
    expect(messages.filter((msg) => msg.includes('declaring them lost'))).toEqual([]);
    expect(second.agent.status()).toMatchObject({ outboxDurable: true, pendingSeqs: [2, 3, 4, 5] });
    await cp.ack(5);
    await vi.waitFor(() => expect(second.agent.status().outboxDepth).toBe(0), waitLong);
    expect(cp.invalid).toEqual([]);
  });

  it('declares lost only the seqs the durable outbox does not hold (reserved just before a crash)', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    await first.agent.stop();
    // As if the agent had died after writing seqs 3 and 4 to the seq file and before storing them.
    const seqFile = path.join(dir, SEQ_FILE);
    const persisted = JSON.parse(await fs.readFile(seqFile, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(seqFile, JSON.stringify({ ...persisted, lastSeq: 4 }));

    const second = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 1, 2, 5, 6, 7]), waitLong);
    expect(cp.gapReports().map((report) => [report.seq, report.body])).toEqual([
      [5, { reason: 'lost_on_restart', ranges: [{ fromSeq: 3, toSeq: 4 }] }],
    ]);
    expect(second.lines.find((line) => line.msg.includes('missing from the durable outbox'))).toMatchObject({
      fromSeq: 3,
      toSeq: 4,
      lostSeqs: 2,
    });
    expect(cp.invalid).toEqual([]);
  });

  it('compacts a full durable outbox and declares exactly what it thinned, cleared by the ack', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const { agent, lines } = await startAgent(identity, await stateDir(), {
      outbox: sqliteOutbox({ maxMessages: 5 }),
    });
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);
    await agent.publishHealth();
    await agent.publishHealth();
    expect(await agent.publishInventory()).toBe(5);
    // Full. 6 supersedes snapshot 1 (5 is newer); the report on it (7) thins health 3 (of 2, 3, 4; 6 is the
    // newest); 8 supersedes 7 and declares 1, 3 and 7.
    expect(await agent.publishHealth()).toBe(6);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]), waitLong);
    expect(cp.invalid).toEqual([]);
    expect(agent.status()).toMatchObject({
      pendingSeqs: [2, 4, 5, 6, 8],
      evicted: { inventory: 1, health: 1 },
    });
    expect(cp.gapReports().at(-1)?.body).toEqual({
      reason: 'evicted',
      ranges: [
        { fromSeq: 1, toSeq: 1 },
        { fromSeq: 3, toSeq: 3 },
        { fromSeq: 7, toSeq: 7 },
      ],
    });
    expect(lines.map((line) => line.msg)).toContain(
      'outbox full: compacted (older complete inventory snapshots superseded, health reports thinned)',
    );
    await cp.ack(8);
    await vi.waitFor(
      () => expect(agent.status()).toMatchObject({ outboxDepth: 0, lastAckedSeq: 8 }),
      waitLong,
    );
  });

  it('moves an unreadable outbox aside, declares what it may have held, and runs', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    await fs.writeFile(
      path.join(dir, SEQ_FILE),
      JSON.stringify({ agentId: identity.agentId, lastSeq: 10, lastAckedSeq: 4 }),
    );
    await fs.writeFile(path.join(dir, 'outbox.db'), Buffer.alloc(8192, 0xa5));
    const { agent, lines } = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([11, 12, 13]), waitLong);
    expect(cp.gapReports()[0]?.body).toEqual({
      reason: 'lost_on_restart',
      ranges: [{ fromSeq: 5, toSeq: 10 }],
    });
    expect(lines.find((line) => line.msg.startsWith('OUTBOX UNREADABLE'))).toMatchObject({ level: 50 });
    expect((await fs.readdir(dir)).some((name) => name.startsWith('outbox.db.corrupt-'))).toBe(true);
    expect(agent.status()).toMatchObject({ state: 'running', outboxDurable: true });
  });
});
