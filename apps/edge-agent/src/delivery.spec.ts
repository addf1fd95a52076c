import fs from 'node:fs/promises';
import path from 'node:path';
import {
  encodeEnvelope,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  seqGapEnvelopeSchema,
  type SeqGapEnvelope,
  type UplinkStream,
} from '@medfleet/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Delivery, type DeliveryOptions } from './delivery.js';
import { MemoryOutbox, type MemoryOutboxOptions, type Outbox, type OutboxMessage } from './outbox.js';
import { OUTBOX_FILE, SqliteOutbox } from './sqlite-outbox.js';
import { SEQ_FILE, SeqStore } from './state.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';
import { messageFactory } from './testing/messages.js';

const dirs: string[] = [];
const outboxes: Outbox[] = [];
afterEach(async () => {
  await Promise.all(outboxes.splice(0).map((outbox) => outbox.close()));
  await removeDirs(dirs);
});

const r = (fromSeq: number, toSeq: number) => ({ fromSeq, toSeq });

/** A Delivery with no connection (nothing goes on the wire), a real seq store and gap reports as the agent makes them. */
async function setup(
  outboxOptions: MemoryOutboxOptions = {},
  seqFile?: { lastSeq: number; lastAckedSeq: number },
  makeOutbox: (dir: string, agentId: string) => Outbox = () => new MemoryOutbox(outboxOptions),
) {
  const dir = await makeTempDir();
  dirs.push(dir);
  const { agentId } = makeIdentity();
  if (seqFile) await fs.writeFile(path.join(dir, SEQ_FILE), JSON.stringify({ agentId, ...seqFile }));
  const seqStore = await SeqStore.open(dir, agentId);
  const outbox = makeOutbox(dir, agentId);
  outboxes.push(outbox);
  const { logger, lines } = captureLogger(agentId);
  const control = { failures: 0 };
  const delivery = new Delivery({
    outbox,
    seqStore,
    logger,
    resendIntervalMs: 60_000,
    resendBatchSize: 100,
    createGapReport: async (reason, ranges) => {
      if (control.failures > 0) {
        control.failures -= 1;
        throw new Error('disk full');
      }
      const seq = await seqStore.next();
      const envelope: SeqGapEnvelope = {
        v: PROTOCOL_VERSION,
        agentId,
        seq,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.seqGap,
        body: { reason, ranges },
      };
      return { seq, stream: 'events', topic: 'events', payload: encodeEnvelope(envelope) };
    },
  });

  const submit = async (stream: UplinkStream, bytes = 20) => {
    const seq = await seqStore.next();
    await delivery.submit({ seq, stream, topic: stream, payload: Buffer.alloc(bytes) });
    return seq;
  };
  /** Submits a real envelope (the durable outbox reads whether an inventory snapshot is complete). */
  const submitMessage = async (build: (seq: number) => OutboxMessage) => {
    const seq = await seqStore.next();
    await delivery.submit(build(seq));
    return seq;
  };
  /** The held gap reports, each checked against the contract and against its own seq. */
  const gapReports = () =>
    outbox
      .pending()
      .filter((message) => message.stream === 'events')
      .map((message) => {
        const envelope = seqGapEnvelopeSchema.parse(JSON.parse(message.payload.toString('utf8')));
        expect(envelope.seq).toBe(message.seq);
        for (const range of envelope.body.ranges) expect(range.toSeq).toBeLessThan(envelope.seq);
        return envelope;
      });
  const declared = () => {
    const seqs = new Set<number>();
    for (const report of gapReports())
      for (const { fromSeq, toSeq } of report.body.ranges)
        for (let s = fromSeq; s <= toSeq; s += 1) seqs.add(s);
    return seqs;
  };
  /** Issued, unacknowledged seqs that are neither held nor declared by a held gap report: they would stall the ack. */
  const undelivered = () => {
    const held = new Set(outbox.pending().map((message) => message.seq));
    const gone = declared();
    const missing: number[] = [];
    for (let seq = seqStore.lastAckedSeq + 1; seq <= seqStore.lastSeq; seq += 1)
      if (!held.has(seq) && !gone.has(seq)) missing.push(seq);
    return missing;
  };
  const heldAndDeclared = () => outbox.pending().filter((message) => declared().has(message.seq));
  const seqs = () => outbox.pending().map((message) => message.seq);
  return {
    dir,
    agentId,
    delivery,
    outbox,
    seqStore,
    lines,
    control,
    submit,
    submitMessage,
    gapReports,
    undelivered,
    heldAndDeclared,
    seqs,
  };
}

describe('Delivery gap reports', () => {
  it('declares evicted seqs in one gap report, adjacent seqs merged into ranges, until an ack clears it', async () => {
    const t = await setup({ maxMessages: 4 });
    await t.submit('inventory');
    for (let i = 0; i < 3; i += 1) await t.submit('health');
    expect(t.seqs()).toEqual([1, 2, 3, 4]);
    expect(t.gapReports()).toEqual([]);

    // 5 evicts 2; the report declaring it (6) evicts 3, so 7 supersedes 6 and declares 2, 3 and 6.
    await t.submit('health');
    expect(t.seqs()).toEqual([1, 4, 5, 7]);
    expect(t.gapReports().map((report) => [report.seq, report.body])).toEqual([
      [7, { reason: 'evicted', ranges: [r(2, 3), r(6, 6)] }],
    ]);
    // 8 evicts 4; 9 supersedes 7: 2..4 and 6..7.
    await t.submit('health');
    expect(t.seqs()).toEqual([1, 5, 8, 9]);
    const [report] = t.gapReports();
    expect(report).toMatchObject({ seq: 9, type: 'agent.seq_gap', body: { reason: 'evicted' } });
    expect(report?.body.ranges).toEqual([r(2, 4), r(6, 7)]);
    expect(t.undelivered()).toEqual([]);
    expect(t.heldAndDeclared()).toEqual([]);
    expect(t.delivery.evicted()).toEqual({ health: 3 });
    expect(t.lines.filter((line) => line.msg.startsWith('gap report queued'))).toHaveLength(3);

    await t.delivery.acknowledge(8);
    expect(t.seqs()).toEqual([9]);
    await t.delivery.acknowledge(9);
    expect(t.seqs()).toEqual([]);
    expect(t.seqStore.lastAckedSeq).toBe(9);
  });

  it.each([
    { maxMessages: 6, maxBytes: 700, seed: 42 },
    { maxMessages: 2, maxBytes: 450, seed: 7 },
    { maxMessages: 1, maxBytes: 100_000, seed: 3 },
  ])(
    'leaves no seq undeclared and keeps one gap report, whatever the traffic and the acks (%o)',
    async (bounds) => {
      const { maxMessages, maxBytes } = bounds;
      const t = await setup({ maxMessages, maxBytes });
      let state = bounds.seed;
      const random = () => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return state / 2_147_483_648;
      };
      for (let step = 0; step < 400; step += 1) {
        const roll = random();
        if (roll < 0.5) await t.submit('health', 20 + Math.floor(random() * 100));
        else if (roll < 0.8) await t.submit('inventory', 50 + Math.floor(random() * 150));
        else {
          const from = t.seqStore.lastAckedSeq;
          await t.delivery.acknowledge(from + Math.floor(random() * (t.seqStore.lastSeq - from + 1)));
        }
        expect(t.undelivered(), `step ${step}`).toEqual([]);
        expect(t.heldAndDeclared(), `step ${step}`).toEqual([]);
        expect(t.gapReports().length, `step ${step}`).toBeLessThanOrEqual(1);
        expect(t.outbox.depth()).toBeLessThanOrEqual(maxMessages);
      }
      expect(t.delivery.evicted()['health']).toBeGreaterThan(10);
      expect(t.delivery.undeclaredCount()).toBe(0);
      expect(t.lines.map((line) => line.msg)).not.toContain(
        'gap reports keep evicting each other: outbox bounds too small',
      );
    },
  );

  it('hands the ranges of an evicted gap report on to the next one', async () => {
    const t = await setup({ maxMessages: 1 }, { lastSeq: 5, lastAckedSeq: 0 });
    await t.delivery.declareLost([r(1, 5)]);
    expect(t.gapReports().map((report) => [report.seq, report.body])).toEqual([
      [6, { reason: 'lost_on_restart', ranges: [r(1, 5)] }],
    ]);
    // 7 evicts the report 6 (nothing else is held); 8 re-declares 1..6 and evicts 7; 9 supersedes 8.
    await t.submit('health');
    expect(t.seqs()).toEqual([9]);
    expect(t.gapReports()[0]?.body).toEqual({ reason: 'evicted', ranges: [r(1, 8)] });
    expect(t.undelivered()).toEqual([]);
    expect(t.delivery.evicted()).toEqual({ events: 1, health: 1 });
    expect(t.lines.map((line) => line.msg)).toContain(
      'OUTBOX FULL: gap reports were dropped; the next one re-declares them',
    );
  });

  it('keeps what it could not declare and declares it with the next message', async () => {
    const t = await setup({ maxMessages: 2 });
    await t.submit('health');
    await t.submit('health');
    t.control.failures = 1;
    await t.submit('health');
    expect(t.seqs()).toEqual([2, 3]);
    expect(t.undelivered()).toEqual([1]);
    expect(t.delivery.undeclaredCount()).toBe(1);
    expect(t.lines.map((line) => line.msg)).toContain(
      'could not publish a gap report; will retry with the next message',
    );

    // 4 evicts 2; 5 declares 1..2 and evicts 3; 6 supersedes 5.
    await t.submit('health');
    expect(t.seqs()).toEqual([4, 6]);
    expect(t.gapReports()[0]?.body.ranges).toEqual([r(1, 3), r(5, 5)]);
    expect(t.undelivered()).toEqual([]);
    expect(t.delivery.undeclaredCount()).toBe(0);
  });

  it('splits a restart loss into reports within the contract limit, all below their own seqs', async () => {
    const t = await setup({}, { lastSeq: 250_010, lastAckedSeq: 10 });
    await t.delivery.declareLost([r(11, 250_010)]);
    const reports = t.gapReports();
    expect(reports.map((report) => [report.seq, report.body.reason, report.body.ranges])).toEqual([
      [250_011, 'lost_on_restart', [r(11, 100_010)]],
      [250_012, 'lost_on_restart', [r(100_011, 200_010)]],
      [250_013, 'lost_on_restart', [r(200_011, 250_010)]],
    ]);
    expect(t.undelivered()).toEqual([]);
    await t.delivery.acknowledge(250_013);
    expect(t.outbox.depth()).toBe(0);
  });
});

describe('Delivery with the durable outbox', () => {
  const make = messageFactory(makeIdentity());
  const durable =
    (bounds: { maxMessages?: number; maxBytes?: number }) =>
    (dir: string, agentId: string): Outbox =>
      SqliteOutbox.open({ file: path.join(dir, OUTBOX_FILE), agentId, ...bounds });

  it.each([
    { maxMessages: 8, seed: 5 },
    { maxMessages: 25, seed: 9 },
    { maxBytes: 9_000, seed: 13 },
  ])(
    'compacts without leaving a seq undeclared, dropping an inventory change or event, or the newest snapshot (%o)',
    async ({ seed, ...bounds }) => {
      const t = await setup({}, undefined, durable(bounds));
      let state = seed;
      const random = () => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return state / 2_147_483_648;
      };
      const changes: number[] = [];
      let newestSnapshot = 0;
      let compacted = 0;
      for (let step = 0; step < 300; step += 1) {
        const roll = random();
        if (roll < 0.6) await t.submitMessage(make.health);
        else if (roll < 0.78) newestSnapshot = await t.submitMessage((seq) => make.inventory(seq, true));
        else if (roll < 0.83) changes.push(await t.submitMessage((seq) => make.inventory(seq, false)));
        // Acks are rare, so the outbox keeps filling up and compaction is exercised.
        else if (roll < 0.95) changes.push(await t.submitMessage((seq) => make.inventory(seq, false)));
        else {
          const from = t.seqStore.lastAckedSeq;
          await t.delivery.acknowledge(from + Math.floor(random() * (t.seqStore.lastSeq - from + 1)));
        }
        const held = new Set(t.seqs());
        const acked = t.seqStore.lastAckedSeq;
        expect(t.undelivered(), `step ${step}`).toEqual([]);
        expect(t.heldAndDeclared(), `step ${step}`).toEqual([]);
        expect(t.gapReports().length, `step ${step}`).toBeLessThanOrEqual(1);
        for (const seq of changes) if (seq > acked) expect(held.has(seq), `change ${seq}`).toBe(true);
        if (newestSnapshot > acked) expect(held.has(newestSnapshot), `snapshot ${newestSnapshot}`).toBe(true);
        compacted = Object.values(t.delivery.evicted()).reduce((sum, count) => sum + count, 0);
      }
      expect(compacted).toBeGreaterThan(10);
      expect(t.delivery.evicted()['events']).toBeUndefined();
      expect(t.delivery.undeclaredCount()).toBe(0);
      expect(t.lines.map((line) => line.msg)).toContain(
        'outbox full: compacted (older complete inventory snapshots superseded, health reports thinned)',
      );
    },
  );

  it('declares the thinned and superseded seqs in one evicted gap report, exactly', async () => {
    const t = await setup({}, undefined, durable({ maxMessages: 6 }));
    await t.submitMessage((seq) => make.inventory(seq, true)); // 1
    for (let i = 0; i < 4; i += 1) await t.submitMessage(make.health); // 2..5
    await t.submitMessage((seq) => make.inventory(seq, true)); // 6: full
    // 7 (health) supersedes snapshot 1; the report on it (8) thins health 3 and 5 (every other of 2..5, 7
    // being the newest): 9 supersedes 8 and declares 1, 3, 5 and 8.
    await t.submitMessage(make.health);
    expect(t.seqs()).toEqual([2, 4, 6, 7, 9]);
    expect(t.gapReports().map((report) => [report.seq, report.body])).toEqual([
      [9, { reason: 'evicted', ranges: [r(1, 1), r(3, 3), r(5, 5), r(8, 8)] }],
    ]);
    expect(t.delivery.evicted()).toEqual({ inventory: 1, health: 2 });
    expect(t.undelivered()).toEqual([]);
  });

  it('after a restart, declares lost only the seqs neither held nor declared by a held gap report', async () => {
    const t = await setup({}, undefined, durable({ maxMessages: 4 }));
    for (let i = 0; i < 6; i += 1) await t.submitMessage(make.health);
    await t.delivery.acknowledge(1);
    const held = t.seqs();
    const declared = t.gapReports().flatMap((report) => report.body.ranges);
    expect(declared.length).toBeGreaterThan(0);
    // A crash right after two seqs were reserved (the seq file is written first) and before they were stored.
    await t.seqStore.next();
    await t.seqStore.next();
    await t.outbox.close();

    const seqStore = await SeqStore.open(t.dir, t.agentId);
    const outbox = SqliteOutbox.open({ file: path.join(t.dir, OUTBOX_FILE), agentId: t.agentId });
    outboxes.push(outbox);
    expect(outbox.seqs()).toEqual(held);
    const restarted = new Delivery({
      outbox,
      seqStore,
      logger: captureLogger().logger,
      resendIntervalMs: 60_000,
      resendBatchSize: 100,
      createGapReport: () => Promise.reject(new Error('not needed')),
    });
    expect(restarted.missingSeqs()).toEqual([r(seqStore.lastSeq - 1, seqStore.lastSeq)]);
  });

  it('folds a burst of acks into few writes', async () => {
    const t = await setup({}, undefined, durable({}));
    for (let i = 0; i < 200; i += 1) await t.submitMessage(make.health);
    const writes = { count: 0 };
    const recordAck = t.seqStore.recordAck.bind(t.seqStore);
    t.seqStore.recordAck = (ackedSeq: number) => {
      writes.count += 1;
      return recordAck(ackedSeq);
    };
    await Promise.all(Array.from({ length: 200 }, (_, index) => t.delivery.acknowledge(index + 1)));
    expect(t.outbox.depth()).toBe(0);
    expect(t.seqStore.lastAckedSeq).toBe(200);
    expect(writes.count).toBeLessThanOrEqual(3);
  });
});

describe('Delivery flow control', () => {
  /** A connected MQTT client that holds each publish until the test plays the broker's PUBACK. */
  function fakeClient() {
    const published: { seq: number; puback: () => void }[] = [];
    const client = {
      connected: true,
      publish: (_topic: string, payload: Buffer, _options: unknown, callback: (error?: Error) => void) => {
        const seq = Number(/"seq":(\d+)/.exec(payload.toString('utf8'))?.[1]);
        published.push({ seq, puback: () => callback() });
      },
    };
    return { client: client as unknown as MqttClient, published };
  }
  const make = messageFactory(makeIdentity());
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  async function backlog(count: number, options: Partial<DeliveryOptions> = {}) {
    const dir = await makeTempDir();
    dirs.push(dir);
    const { agentId } = makeIdentity();
    await fs.writeFile(
      path.join(dir, SEQ_FILE),
      JSON.stringify({ agentId, lastSeq: count, lastAckedSeq: 0 }),
    );
    const outbox = new MemoryOutbox({ maxMessages: count + 10 });
    for (let seq = 1; seq <= count; seq += 1) await outbox.append(make.health(seq));
    const delivery = new Delivery({
      outbox,
      seqStore: await SeqStore.open(dir, agentId),
      logger: captureLogger().logger,
      resendIntervalMs: 60_000,
      resendBatchSize: 100,
      createGapReport: () => Promise.reject(new Error('not needed')),
      ...options,
    });
    const { client, published } = fakeClient();
    delivery.attach(client);
    return { delivery, published, outbox };
  }

  it('replays a backlog in seq order through the broker window, each message once', async () => {
    const { delivery, published } = await backlog(1_000, { maxInflight: 64, maxUnacked: 10_000 });
    delivery.onConnected();
    expect(published).toHaveLength(64);
    expect(delivery.inflightCount()).toBe(64);
    // PUBACKs free the window; the next messages follow in order.
    for (let round = 0; round < 40 && published.length < 1_000; round += 1) {
      for (const publish of published.slice(-64)) publish.puback();
      await tick();
      expect(delivery.inflightCount()).toBeLessThanOrEqual(64);
    }
    expect(published.map((publish) => publish.seq)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
  });

  it("keeps to the broker's Receive Maximum", async () => {
    const { delivery, published } = await backlog(100, { maxInflight: 64 });
    delivery.onConnected(20);
    expect(published).toHaveLength(20);
    published[0]?.puback();
    await tick();
    expect(published).toHaveLength(21);
  });

  it('sends no more than maxUnacked ahead of the control plane, and moves on with its acks', async () => {
    const { delivery, published, outbox } = await backlog(2_000, { maxInflight: 1_000, maxUnacked: 500 });
    delivery.onConnected();
    expect(published).toHaveLength(500);
    for (const publish of published) publish.puback();
    await tick();
    // The broker has them all; the control plane has acknowledged none: nothing more goes out.
    expect(published).toHaveLength(500);
    await delivery.acknowledge(200);
    await tick();
    expect(outbox.depth()).toBe(1_800);
    expect(published).toHaveLength(700);
    expect(published.at(-1)?.seq).toBe(700);
    // A reconnect starts the sweep again from the oldest unacknowledged message, within the same window.
    for (const publish of published) publish.puback();
    published.length = 0;
    delivery.onConnected();
    expect(published.map((publish) => publish.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 201));
  });
});

describe('fast resend', () => {
  const make = messageFactory(makeIdentity());
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  async function sent(count: number, fastResendMs: number) {
    const dir = await makeTempDir();
    dirs.push(dir);
    const { agentId } = makeIdentity();
    await fs.writeFile(
      path.join(dir, SEQ_FILE),
      JSON.stringify({ agentId, lastSeq: count, lastAckedSeq: 0 }),
    );
    const outbox = new MemoryOutbox({ maxMessages: count + 10 });
    for (let seq = 1; seq <= count; seq += 1) await outbox.append(make.health(seq));
    const delivery = new Delivery({
      outbox,
      seqStore: await SeqStore.open(dir, agentId),
      logger: captureLogger().logger,
      resendIntervalMs: 60_000,
      resendBatchSize: 100,
      fastResendMs,
      createGapReport: () => Promise.reject(new Error('not needed')),
    });
    const published: number[] = [];
    const client = {
      connected: true,
      publish: (_topic: string, payload: Buffer, _options: unknown, callback: (error?: Error) => void) => {
        published.push(Number(/"seq":(\d+)/.exec(payload.toString('utf8'))?.[1]));
        callback();
      },
    };
    delivery.attach(client as unknown as MqttClient);
    delivery.onConnected();
    await tick();
    expect(published).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    published.length = 0;
    return { delivery, published };
  }

  it('sends again at once what an ack shows was lost on the way: the seqs between the contiguous ack and the one it answers', async () => {
    const { delivery, published } = await sent(10, 0);
    // The control plane committed 1-3 and 7: 4, 5 and 6 never reached it.
    await delivery.acknowledge(3, 7);
    expect(published).toEqual([4, 5, 6]);
    // An ack that answers the next seq in line shows no hole: nothing goes again.
    published.length = 0;
    await delivery.acknowledge(8, 8);
    expect(published).toEqual([]);
  });

  it('leaves alone a message sent moments ago: it may still be on its way', async () => {
    const { delivery, published } = await sent(10, 60_000);
    await delivery.acknowledge(3, 7);
    expect(published).toEqual([]);
  });
});

describe('acks', () => {
  it('a repeated or stale ack never stops later acks from being applied', async () => {
    const t = await setup();
    for (let i = 0; i < 6; i++) await t.submit('health');
    await t.delivery.acknowledge(2);
    // The same ack again (a replay answered by the control plane), then an older one: nothing to write.
    await t.delivery.acknowledge(2);
    await t.delivery.acknowledge(1);
    await t.delivery.acknowledge(5);
    expect(t.seqs()).toEqual([6]);
    expect(t.seqStore.lastAckedSeq).toBe(5);
    await t.delivery.acknowledge(6);
    expect(t.seqs()).toEqual([]);
  });
});
