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
import { Delivery } from './delivery.js';
import { MemoryOutbox, type MemoryOutboxOptions } from './outbox.js';
import { SEQ_FILE, SeqStore } from './state.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';

const dirs: string[] = [];
afterEach(() => removeDirs(dirs));

const r = (fromSeq: number, toSeq: number) => ({ fromSeq, toSeq });

/** A Delivery with no connection (nothing goes on the wire), a real seq store and gap reports as the agent makes them. */
async function setup(
  outboxOptions: MemoryOutboxOptions = {},
  seqFile?: { lastSeq: number; lastAckedSeq: number },
) {
  const dir = await makeTempDir();
  dirs.push(dir);
  const { agentId } = makeIdentity();
  if (seqFile) await fs.writeFile(path.join(dir, SEQ_FILE), JSON.stringify({ agentId, ...seqFile }));
  const seqStore = await SeqStore.open(dir, agentId);
  const outbox = new MemoryOutbox(outboxOptions);
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
    delivery,
    outbox,
    seqStore,
    lines,
    control,
    submit,
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
