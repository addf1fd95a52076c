// Runs the agent against the real MQTT broker (Mosquitto on 127.0.0.1:1883, or TEST_MQTT_URL).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  agentTopicPrefix,
  downlinkTopic,
  encodeEnvelope,
  healthEnvelopeSchema,
  inventoryEnvelopeSchema,
  MESSAGE_TYPES,
  parseTopic,
  PROTOCOL_VERSION,
  seqGapEnvelopeSchema,
  uplinkTopic,
  type AgentAddress,
  type CommandKind,
  type HealthEnvelope,
  type SeqGapEnvelope,
  type UplinkEnvelope,
} from '@medfleet/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent, type AgentOptions } from './agent.js';
import { MemoryOutbox } from './outbox.js';
import { SEQ_FILE, type AgentIdentity } from './state.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs, TEST_MQTT_URL } from './testing/fixtures.js';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.js';
import { AGENT_VERSION } from './version.js';

const dirs: string[] = [];
const agents: Agent[] = [];
const clients: MqttClient[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await removeDirs(dirs);
});

const waitLong = { timeout: 15_000, interval: 50 };

/** Each uplink stream's envelope schema, straight from the contract. */
const uplinkSchemas = {
  inventory: inventoryEnvelopeSchema,
  health: healthEnvelopeSchema,
  events: seqGapEnvelopeSchema,
} as const;

function addressOf(identity: AgentIdentity): AgentAddress {
  return { tenantId: identity.tenantId, siteId: identity.siteId, agentId: identity.agentId };
}

/** Plays the control plane: watches the agent's uplink topics and answers on its cmd/ topics. */
async function controlPlane(identity: AgentIdentity) {
  const address = addressOf(identity);
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    protocolVersion: 5,
    clientId: `test-cp-${randomUUID()}`,
    clean: true,
    reconnectPeriod: 0,
  });
  clients.push(client);
  const received: { topic: string; envelope: UplinkEnvelope }[] = [];
  const invalid: string[] = [];
  client.on('message', (topic, payload) => {
    const parsed = parseTopic(topic);
    if (parsed?.direction !== 'uplink') return;
    const schema = uplinkSchemas[parsed.stream as keyof typeof uplinkSchemas] as
      (typeof uplinkSchemas)[keyof typeof uplinkSchemas] | undefined;
    if (!schema) {
      invalid.push(`${topic}: unexpected stream`);
      return;
    }
    const result = schema.safeParse(JSON.parse(payload.toString('utf8')));
    if (!result.success) invalid.push(`${topic}: ${result.error.message}`);
    else if (
      result.data.type === MESSAGE_TYPES.seqGap &&
      result.data.body.ranges.some((r) => r.toSeq >= result.data.seq)
    )
      invalid.push(`${topic}: a gap must lie below its report's own seq`);
    else received.push({ topic, envelope: result.data });
  });
  await client.subscribeAsync(`${agentTopicPrefix(address)}/#`, { qos: 1 });
  let ackSeq = 0;
  return {
    received,
    invalid,
    seqs: () => received.map((message) => message.envelope.seq),
    gapReports: () =>
      received.flatMap((message) =>
        message.envelope.type === MESSAGE_TYPES.seqGap ? [message.envelope as SeqGapEnvelope] : [],
      ),
    countOf: (seq: number) => received.filter((message) => message.envelope.seq === seq).length,
    publish: (kind: CommandKind, payload: string | Buffer) =>
      client.publishAsync(downlinkTopic(address, kind), payload, { qos: 1 }),
    ack: (ackedSeq: number, agentId = identity.agentId) =>
      client.publishAsync(
        downlinkTopic(address, 'ack'),
        encodeEnvelope({
          v: PROTOCOL_VERSION,
          agentId,
          seq: (ackSeq += 1),
          sentAt: new Date().toISOString(),
          type: MESSAGE_TYPES.ack,
          body: { ackedSeq },
        }),
        { qos: 1 },
      ),
  };
}

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
      expect(messages.filter((msg) => msg === 'command kind not supported yet; ignored')).toHaveLength(2);
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

  it('continues its sequence after a restart and keeps a second agent off its state directory', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir);
    await vi.waitFor(() => expect(cp.seqs()).toEqual([1, 2]), waitLong);

    const intruder = new Agent({ identity, stateDir: dir, logger: captureLogger().logger });
    await expect(intruder.start()).rejects.toMatchObject({ code: 'STATE_LOCKED' });

    await first.agent.stop();
    expect(first.agent.status()).toMatchObject({ state: 'stopped', connected: false, lastSeq: 2 });

    const second = await startAgent(identity, dir);
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

  it('after a restart with unacknowledged seqs, first declares them lost in a gap report, cleared by its ack', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 60, healthIntervalSec: 60 } });
    const address = addressOf(identity);
    const cp = await controlPlane(identity);
    const dir = await stateDir();
    const first = await startAgent(identity, dir);
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
    const second = await startAgent(identity, dir);
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
});
