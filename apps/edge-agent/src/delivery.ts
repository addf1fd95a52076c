/**
 * End-to-end delivery: every uplink message stays in the outbox, and is re-published, until a `cmd/ack`
 * from the control plane covers its seq. At-least-once on the wire; the control plane dedupes by seq.
 *
 * The control plane acks the highest CONTIGUOUS seq it committed, so a seq this agent issued but will never
 * deliver (lost with the in-memory outbox on a restart, evicted when the outbox was full) would stall the
 * ack for good. Such seqs are declared in gap reports (`agent.seq_gap` on `events`), which are delivered
 * like any other message. A gap report that is evicted in turn hands its ranges on to the next one.
 */
import { MESSAGE_TYPES, seqGapEnvelopeSchema, type SeqGapBody } from '@medfleet/contracts';
import type { MqttClient } from 'mqtt';
import type { Logger } from './logger.js';
import type { AppendOptions, Outbox, OutboxMessage } from './outbox.js';
import {
  chunkRanges,
  countSeqs,
  normalizeRanges,
  rangesAbove,
  rangesOf,
  rangesWithout,
  type SeqRange,
} from './seq-ranges.js';
import type { SeqStore } from './state.js';

export type GapReason = SeqGapBody['reason'];

/** Builds the gap report for `ranges` under a newly reserved seq (persisted, so above every range). */
export type GapReportFactory = (reason: GapReason, ranges: SeqRange[]) => Promise<OutboxMessage>;

export interface DeliveryOptions {
  outbox: Outbox;
  seqStore: SeqStore;
  logger: Logger;
  /** Re-publish a message still unacknowledged after this long. */
  resendIntervalMs: number;
  /** Most messages re-published per resend round, so a long control-plane outage does not flood the uplink. */
  resendBatchSize: number;
  createGapReport: GapReportFactory;
}

interface SendState {
  /** Handed to mqtt.js and not yet PUBACK'd; mqtt.js itself resends those after a reconnect. */
  inflight: boolean;
  lastSentAt: number;
}

export class Delivery {
  private readonly sendStates = new Map<number, SendState>();
  private readonly evictedByStream: Record<string, number> = {};
  /** Seqs known to be gone and not yet declared by a gap report in the outbox, by reason. */
  private readonly undeclared = new Map<GapReason, SeqRange[]>();
  private client?: MqttClient;
  private closed = false;

  constructor(private readonly options: DeliveryOptions) {}

  /** The connection to publish on; until it is connected, messages wait in the outbox. */
  attach(client: MqttClient): void {
    this.client = client;
  }

  /**
   * Takes a message whose seq is already persisted: into the outbox, then onto the wire if connected; then
   * declares whatever that evicted. Calls must not overlap (seqs enter the outbox in order).
   */
  async submit(message: OutboxMessage): Promise<void> {
    try {
      await this.append(message);
    } catch (error) {
      // Its seq is reserved and will never be delivered.
      this.addUndeclared('evicted', rangesOf([message.seq]));
      throw error;
    }
    await this.declareGaps();
  }

  /**
   * At start: seqs issued before that no outbox holds any more (lost with the in-memory one) are declared
   * before anything else is submitted. Must not overlap `submit`.
   */
  async declareLost(ranges: readonly SeqRange[]): Promise<void> {
    this.addUndeclared('lost_on_restart', ranges);
    await this.declareGaps();
  }

  /** How many seqs are known to be gone but not yet declared (a gap report failed and will be retried). */
  undeclaredCount(): number {
    let count = 0;
    for (const ranges of this.undeclared.values()) count += countSeqs(ranges);
    return count;
  }

  /** After a reconnect: everything unacknowledged goes again, in seq order, except what mqtt.js resends itself. */
  publishPending(): void {
    for (const message of this.options.outbox.pending()) {
      if (!this.sendStates.get(message.seq)?.inflight) this.send(message);
    }
  }

  /** Called periodically: re-publishes, oldest first, what has waited for its ack longer than the interval. */
  resendStale(): void {
    if (!this.client?.connected) return;
    const now = Date.now();
    let budget = this.options.resendBatchSize;
    for (const message of this.options.outbox.pending()) {
      if (budget <= 0) break;
      const sendState = this.sendStates.get(message.seq);
      if (!sendState || now - sendState.lastSentAt >= this.options.resendIntervalMs) {
        this.send(message);
        budget -= 1;
      }
    }
  }

  /** Applies `ackedSeq` (highest contiguous seq the control plane committed). */
  async acknowledge(ackedSeq: number): Promise<void> {
    const { outbox, seqStore, logger } = this.options;
    const dropped = await outbox.ackUpTo(ackedSeq);
    for (const seq of this.sendStates.keys()) if (seq <= ackedSeq) this.sendStates.delete(seq);
    const record = await seqStore.recordAck(ackedSeq);
    if (record.jumped) {
      logger.error(
        { ackedSeq, previousLastSeq: record.previousLastSeq },
        'control plane acknowledged seqs this agent never issued (state lost or restored?): seq counter moved past them',
      );
    }
    logger.debug({ ackedSeq, dropped, outboxDepth: outbox.depth() }, 'ack received');
  }

  evicted(): Record<string, number> {
    return { ...this.evictedByStream };
  }

  /** No more publishing; failures of publishes cut short by the disconnect are expected from here on. */
  close(): void {
    this.closed = true;
  }

  private send(message: OutboxMessage): void {
    const client = this.client;
    if (!client?.connected || this.closed) return;
    const sendState: SendState = { inflight: true, lastSentAt: Date.now() };
    this.sendStates.set(message.seq, sendState);
    client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
      sendState.inflight = false;
      if (error && !this.closed) {
        this.options.logger.warn({ err: error, seq: message.seq }, 'publish failed; will retry');
      }
    });
  }

  private async append(message: OutboxMessage, options?: AppendOptions): Promise<void> {
    const { evicted, superseded } = await this.options.outbox.append(message, options);
    for (const replaced of superseded) this.sendStates.delete(replaced.seq);
    if (evicted.length > 0) this.recordEvictions(evicted);
    this.send(message);
  }

  private addUndeclared(reason: GapReason, ranges: Iterable<SeqRange>): void {
    const merged = normalizeRanges([...(this.undeclared.get(reason) ?? []), ...ranges]);
    if (merged.length > 0) this.undeclared.set(reason, merged);
    else this.undeclared.delete(reason);
  }

  /**
   * Publishes gap reports until nothing is left undeclared (appending a report can evict more). A failure
   * (no seq could be reserved) keeps the seqs for the next attempt, at the next submit.
   */
  private async declareGaps(): Promise<void> {
    for (let round = 0; ; round += 1) {
      const reason = GAP_REASONS.find((candidate) => this.undeclared.has(candidate));
      if (!reason) return;
      if (round === MAX_GAP_ROUNDS) {
        // Only an outbox too small for its own gap reports gets here; the next submit tries again.
        this.options.logger.error(
          { undeclaredSeqs: this.undeclaredCount(), outboxDepth: this.options.outbox.depth() },
          'gap reports keep evicting each other: outbox bounds too small',
        );
        return;
      }
      try {
        await this.declare(reason);
      } catch (error) {
        this.options.logger.error(
          { err: error, reason, undeclaredSeqs: this.undeclaredCount() },
          'could not publish a gap report; will retry with the next message',
        );
        return;
      }
    }
  }

  /**
   * Declares this reason's undeclared seqs. The unacknowledged gap reports of the same reason are folded in
   * and superseded, so a full outbox holds one set of them instead of one more per eviction (and appending a
   * report does not evict yet another message to declare).
   */
  private async declare(reason: GapReason): Promise<void> {
    const { outbox, seqStore, logger } = this.options;
    const fresh = this.undeclared.get(reason) ?? [];
    this.undeclared.delete(reason);
    const outstanding = outbox
      .pending()
      .map((message) => ({ seq: message.seq, body: gapReportBody(message) }))
      .filter((report) => report.body?.reason === reason);
    const supersedes = outstanding.map((report) => report.seq);
    const replaced = new Set(supersedes);
    const held = outbox
      .pending()
      .map((message) => message.seq)
      .filter((seq) => !replaced.has(seq));
    // Never declare a seq still held (the control plane would drop the real message as a replay), nor one
    // already acknowledged (it is committed).
    const ranges = rangesWithout(
      rangesAbove(
        [...fresh, ...outstanding.flatMap((report) => report.body?.ranges ?? []), ...rangesOf(supersedes)],
        seqStore.lastAckedSeq,
      ),
      held,
    );
    const chunks = chunkRanges(ranges);
    for (const [index, chunk] of chunks.entries()) {
      let report: OutboxMessage | undefined;
      try {
        report = await this.options.createGapReport(reason, chunk);
        await this.append(report, index === 0 ? { supersedes } : {});
      } catch (error) {
        // Before the first report is in, the outstanding ones still declare their part; a seq reserved for
        // a report that did not make it into the outbox is gone as well.
        this.addUndeclared(reason, [
          ...(index === 0 ? fresh : chunks.slice(index).flat()),
          ...(report ? rangesOf([report.seq]) : []),
        ]);
        throw error;
      }
      logger.warn(
        {
          reason,
          reportSeq: report.seq,
          seqs: countSeqs(chunk),
          rangeCount: chunk.length,
          ranges: chunk.slice(0, 20),
          ...(index === 0 && supersedes.length > 0 ? { supersedes } : {}),
        },
        'gap report queued: these seqs will never be delivered',
      );
    }
  }

  private recordEvictions(evicted: OutboxMessage[]): void {
    for (const message of evicted) {
      this.evictedByStream[message.stream] = (this.evictedByStream[message.stream] ?? 0) + 1;
      this.sendStates.delete(message.seq);
    }
    // The evicted seqs are gone; an evicted gap report's own ranges are still owed to the control plane.
    this.addUndeclared('evicted', [
      ...rangesOf(evicted.map((message) => message.seq)),
      ...evicted.flatMap((message) => gapReportBody(message)?.ranges ?? []),
    ]);
    const fields = {
      seqs: evicted.map((message) => message.seq),
      evictedTotal: this.evicted(),
      outboxDepth: this.options.outbox.depth(),
    };
    if (evicted.some((message) => message.stream === 'inventory')) {
      this.options.logger.error(fields, 'OUTBOX FULL: unacknowledged inventory snapshots were dropped');
    } else if (evicted.some((message) => message.stream !== 'health')) {
      this.options.logger.error(
        fields,
        'OUTBOX FULL: gap reports were dropped; the next one re-declares them',
      );
    } else {
      this.options.logger.warn(fields, 'outbox full: oldest unacknowledged health reports dropped');
    }
  }
}

/** Rounds of gap reports per submit; each round normally ends the evictions (see `declare`). */
const MAX_GAP_ROUNDS = 32;

/** Declared in this order when both are pending: restart losses are older than any eviction. */
const GAP_REASONS: readonly GapReason[] = ['lost_on_restart', 'evicted'];

/** The body of a held gap report (read back from its payload, so a durable outbox needs no side table). */
function gapReportBody(message: OutboxMessage): SeqGapBody | undefined {
  if (message.stream !== 'events') return undefined;
  try {
    const parsed = seqGapEnvelopeSchema.safeParse(JSON.parse(message.payload.toString('utf8')));
    return parsed.success && parsed.data.type === MESSAGE_TYPES.seqGap ? parsed.data.body : undefined;
  } catch {
    return undefined;
  }
}
