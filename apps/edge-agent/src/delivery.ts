/**
 * End-to-end delivery: every uplink message stays in the outbox, and is re-published, until a `cmd/ack`
 * from the control plane covers its seq. At-least-once on the wire; the control plane dedupes by seq.
 *
 * Messages go out in seq order through a window of publishes the broker has not confirmed yet (PUBACK), so
 * a replay of a long backlog after days offline streams from the outbox instead of piling up in memory.
 *
 * The control plane acks the highest CONTIGUOUS seq it committed, so a seq this agent issued but will never
 * deliver (reserved just before a crash and never stored, lost with an in-memory outbox, evicted or
 * compacted away when the outbox was full) would stall the ack for good. Such seqs are declared in gap reports (`agent.seq_gap` on `events`), which are delivered
 * like any other message. A gap report that is evicted in turn hands its ranges on to the next one.
 */
import { MESSAGE_TYPES, seqGapEnvelopeSchema, type SeqGapBody } from '@medfleet/contracts';
import type { MqttClient } from 'mqtt';
import type { Logger } from './logger.js';
import type { AppendOptions, CompactionSummary, EvictedMessage, Outbox, OutboxMessage } from './outbox.js';
import {
  chunkRanges,
  countSeqs,
  normalizeRanges,
  rangesAbove,
  rangesMinus,
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
  /**
   * Most publishes handed to MQTT and not yet confirmed by the broker (PUBACK); the broker's Receive Maximum
   * lowers it. A replay of a long backlog streams through this window instead of landing in memory at once.
   */
  maxInflight?: number;
  /** Most payload bytes in flight (a single message may exceed it). */
  maxInflightBytes?: number;
  /**
   * Most messages sent in the current sweep and not yet acknowledged by the CONTROL PLANE. End-to-end flow
   * control: a replay runs at the pace the control plane commits, so the broker never has to queue (and, at
   * its per-client limit, drop: Mosquitto's max_queued_messages is 1000) thousands of messages for a
   * control plane that is behind.
   */
  maxUnacked?: number;
  /**
   * A message the control plane's acks show was lost on the way (a later seq committed, the contiguous ack
   * stuck below it) is sent again at once if it went out longer ago than this (default 2 s), instead of
   * waiting for the resend interval.
   */
  fastResendMs?: number;
}

export const DEFAULT_MAX_INFLIGHT = 64;
export const DEFAULT_MAX_INFLIGHT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_UNACKED = 500;
export const DEFAULT_FAST_RESEND_MS = 2_000;
/** Messages read from the outbox per query while replaying. */
const REPLAY_PAGE = 128;

/** One publish handed to mqtt.js; a resend replaces it, so a late callback of the old one is told apart. */
interface InflightPublish {
  bytes: number;
}

export class Delivery {
  /** When each unacknowledged seq was last handed to MQTT; insertion order is seq order (first sends are). */
  private readonly lastSentAt = new Map<number, number>();
  /** Handed to mqtt.js and not yet PUBACK'd; mqtt.js itself resends those after a reconnect. */
  private readonly inflight = new Map<number, InflightPublish>();
  private inflightBytes = 0;
  /** Highest seq handed to MQTT in the current sweep; a (re)connect starts a new sweep from the oldest. */
  private cursor = 0;
  private window: number;
  private pumping = false;
  private pumpScheduled = false;
  private readonly evictedByStream: Record<string, number> = {};
  /** Seqs known to be gone and not yet declared by a gap report in the outbox, by reason. */
  private readonly undeclared = new Map<GapReason, SeqRange[]>();
  private ackTarget = 0;
  private ackApplied = 0;
  private ackRun?: Promise<void>;
  private client?: MqttClient;
  private closed = false;

  constructor(private readonly options: DeliveryOptions) {
    this.window = this.maxInflight();
  }

  /** The connection to publish on; until it is connected, messages wait in the outbox. */
  attach(client: MqttClient): void {
    this.client = client;
  }

  /**
   * Takes a message whose seq is already persisted: into the outbox (durable when this resolves), then onto
   * the wire in seq order; then declares whatever that evicted. Calls must not overlap.
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
   * Seqs issued before this start and never acknowledged that the outbox does not hold and no held gap
   * report declares: lost with an in-memory outbox, or reserved just before a crash and never stored.
   */
  missingSeqs(): SeqRange[] {
    const { outbox, seqStore } = this.options;
    if (seqStore.lastSeq <= seqStore.lastAckedSeq) return [];
    const declared = outbox.readStream('events').flatMap((message) => gapReportBody(message)?.ranges ?? []);
    return rangesMinus(
      rangesWithout([{ fromSeq: seqStore.lastAckedSeq + 1, toSeq: seqStore.lastSeq }], outbox.seqs()),
      declared,
    );
  }

  /**
   * At start: declares `ranges` (see `missingSeqs`) lost, before anything else is submitted. Must not
   * overlap `submit`.
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

  /** Publishes handed to MQTT and not yet confirmed by the broker. */
  inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * After each (re)connect: everything unacknowledged goes again, oldest first, through the in-flight window
   * (except what mqtt.js resends itself). `receiveMaximum` is the broker's limit from its CONNACK.
   */
  onConnected(receiveMaximum?: number): void {
    this.window = Math.max(1, Math.min(this.maxInflight(), receiveMaximum ?? Number.POSITIVE_INFINITY));
    this.cursor = 0;
    this.pump();
  }

  /**
   * The connection is gone: PUBACKs of what was in flight may never come (a broker that lost its state
   * forgets them), so the window is freed and the next sweep sends those messages again. A duplicate costs
   * nothing: the control plane commits each seq once.
   */
  onDisconnected(): void {
    this.inflight.clear();
    this.inflightBytes = 0;
  }

  /** Called periodically: re-publishes, oldest first, what has waited for its ack longer than the interval. */
  resendStale(): void {
    if (!this.client?.connected || this.closed) return;
    const now = Date.now();
    let budget = this.options.resendBatchSize;
    // The oldest messages are the ones holding the control plane's contiguous ack back.
    const scanLimit = budget * 4;
    let scanned = 0;
    let after = 0;
    while (budget > 0 && scanned < scanLimit) {
      const page = this.options.outbox.read(after, Math.min(REPLAY_PAGE, scanLimit - scanned));
      if (page.length === 0) return;
      for (const message of page) {
        after = message.seq;
        scanned += 1;
        // Not sent yet in this sweep: the pump's job, in order.
        if (message.seq > this.cursor) return;
        if (this.inflight.has(message.seq)) continue;
        const sentAt = this.lastSentAt.get(message.seq);
        if (sentAt !== undefined && now - sentAt < this.options.resendIntervalMs) continue;
        if (!this.hasRoom()) return;
        this.send(message);
        budget -= 1;
        if (budget <= 0 || !this.client.connected) return;
      }
    }
  }

  /**
   * Applies `ackedSeq` (highest contiguous seq the control plane committed). Acks that arrive while one is
   * being written are folded into the next write: a replay answered ack by ack costs a few writes, not one
   * per message.
   */
  acknowledge(ackedSeq: number, forSeq?: number): Promise<void> {
    if (ackedSeq > this.ackTarget) this.ackTarget = ackedSeq;
    if (forSeq !== undefined && forSeq > ackedSeq + 1) this.resendHoles(ackedSeq, forSeq);
    // Only when there is work: a run with nothing to write would finish (and clear ackRun) before it is
    // assigned, leaving a settled promise in ackRun and every later ack unapplied.
    if (!this.ackRun && this.ackTarget > this.ackApplied) this.ackRun = this.applyAcks();
    return this.ackRun ?? Promise.resolve();
  }

  /**
   * The control plane committed `forSeq` while its contiguous ack stopped at `ackedSeq`: what lies between
   * was lost on the way (a broker that lost its state, a consumer not yet subscribed again). Those messages
   * go again now, like TCP's fast retransmit, rather than after the resend interval. One sent moments ago is
   * left alone (it may simply still be on its way), and the broker window still holds.
   */
  private resendHoles(ackedSeq: number, forSeq: number): void {
    if (!this.client?.connected || this.closed) return;
    const now = Date.now();
    const minAge = this.options.fastResendMs ?? DEFAULT_FAST_RESEND_MS;
    const limit = Math.min(forSeq - ackedSeq - 1, this.options.resendBatchSize, REPLAY_PAGE);
    for (const message of this.options.outbox.read(ackedSeq, limit)) {
      if (message.seq >= forSeq || message.seq > this.cursor) return;
      if (this.inflight.has(message.seq)) continue;
      const sentAt = this.lastSentAt.get(message.seq);
      if (sentAt !== undefined && now - sentAt < minAge) continue;
      if (!this.hasRoom()) return;
      this.send(message);
    }
  }

  /** Resolves once the acks received so far are written. */
  async idle(): Promise<void> {
    await this.ackRun?.catch(() => undefined);
  }

  evicted(): Record<string, number> {
    return { ...this.evictedByStream };
  }

  /** No more publishing; failures of publishes cut short by the disconnect are expected from here on. */
  close(): void {
    this.closed = true;
  }

  private async applyAcks(): Promise<void> {
    const { outbox, seqStore, logger } = this.options;
    try {
      while (this.ackTarget > this.ackApplied) {
        const ackedSeq = this.ackTarget;
        // The seq file first: should the outbox delete not make it, the next start drops what it covers.
        const record = await seqStore.recordAck(ackedSeq);
        const dropped = await outbox.ackUpTo(ackedSeq);
        this.ackApplied = ackedSeq;
        for (const seq of this.lastSentAt.keys()) {
          if (seq > ackedSeq) break;
          this.lastSentAt.delete(seq);
        }
        if (record.jumped) {
          logger.error(
            { ackedSeq, previousLastSeq: record.previousLastSeq },
            'control plane acknowledged seqs this agent never issued (state lost or restored?): seq counter moved past them',
          );
        }
        logger.debug({ ackedSeq, dropped, outboxDepth: outbox.depth() }, 'ack received');
        // Room in the unacknowledged window.
        if (dropped > 0) this.schedulePump();
      }
    } finally {
      this.ackRun = undefined;
    }
  }

  private maxInflight(): number {
    return Math.max(1, this.options.maxInflight ?? DEFAULT_MAX_INFLIGHT);
  }

  private hasRoom(): boolean {
    const maxBytes = this.options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES;
    return this.inflight.size < this.window && (this.inflight.size === 0 || this.inflightBytes < maxBytes);
  }

  /**
   * Hands held messages to MQTT in seq order while both windows have room: publishes the broker has not
   * confirmed, and messages the control plane has not acknowledged.
   */
  private pump(): void {
    try {
      this.fillWindows();
    } catch (error) {
      // Never thrown at a caller: what is stored stays held and goes with the next sweep or resend.
      this.options.logger.warn({ err: error }, 'publishing from the outbox failed; will retry');
    }
  }

  private fillWindows(): void {
    const client = this.client;
    if (this.pumping || this.closed || !client?.connected) return;
    const { outbox } = this.options;
    const maxUnacked = Math.max(1, this.options.maxUnacked ?? DEFAULT_MAX_UNACKED);
    this.pumping = true;
    try {
      // Held messages up to the cursor were sent in this sweep and are not acknowledged yet.
      let unacked = outbox.countUpTo(this.cursor);
      while (this.hasRoom() && unacked < maxUnacked) {
        const page = outbox.read(
          this.cursor,
          Math.min(REPLAY_PAGE, this.window - this.inflight.size, maxUnacked - unacked),
        );
        if (page.length === 0) return;
        for (const message of page) {
          if (!this.hasRoom() || !client.connected) return;
          this.cursor = message.seq;
          unacked += 1;
          if (!this.inflight.has(message.seq)) this.send(message);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** PUBACKs arrive in bursts: refill the window once per turn of the event loop. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private send(message: OutboxMessage): void {
    const client = this.client as MqttClient;
    const publish: InflightPublish = { bytes: message.payload.length };
    this.inflight.set(message.seq, publish);
    this.inflightBytes += publish.bytes;
    this.lastSentAt.set(message.seq, Date.now());
    client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
      if (this.inflight.get(message.seq) === publish) {
        this.inflight.delete(message.seq);
        this.inflightBytes -= publish.bytes;
      }
      if (error && !this.closed) {
        this.options.logger.warn({ err: error, seq: message.seq }, 'publish failed; will retry');
      }
      this.schedulePump();
    });
  }

  private async append(message: OutboxMessage, options?: AppendOptions): Promise<void> {
    const { evicted, superseded, compaction } = await this.options.outbox.append(message, options);
    for (const replaced of superseded) this.lastSentAt.delete(replaced.seq);
    if (evicted.length > 0) this.recordEvictions(evicted, compaction);
    if (compaction?.overQuota) {
      this.options.logger.error(
        {
          outboxDepth: this.options.outbox.depth(),
          outboxBytes: this.options.outbox.bytes(),
          seq: message.seq,
        },
        'OUTBOX OVER QUOTA: what it holds is never dropped (newest inventory snapshot, inventory changes, events)',
      );
    }
    this.pump();
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
      .readStream('events')
      .map((message) => ({ seq: message.seq, body: gapReportBody(message) }))
      .filter((report) => report.body?.reason === reason);
    const supersedes = outstanding.map((report) => report.seq);
    const replaced = new Set(supersedes);
    const held = outbox.seqs().filter((seq) => !replaced.has(seq));
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

  private recordEvictions(evicted: EvictedMessage[], compaction?: CompactionSummary): void {
    for (const message of evicted) {
      this.evictedByStream[message.stream] = (this.evictedByStream[message.stream] ?? 0) + 1;
      this.lastSentAt.delete(message.seq);
    }
    // The evicted seqs are gone; an evicted gap report's own ranges are still owed to the control plane.
    this.addUndeclared('evicted', [
      ...rangesOf(evicted.map((message) => message.seq)),
      ...evicted.flatMap((message) => gapReportBody(message)?.ranges ?? []),
    ]);
    const fields = {
      seqs:
        evicted.length > 50
          ? rangesOf(evicted.map((message) => message.seq)).slice(0, 20)
          : evicted.map((message) => message.seq),
      evictedTotal: this.evicted(),
      outboxDepth: this.options.outbox.depth(),
    };
    if (compaction) {
      this.options.logger.warn(
        {
          ...fields,
          supersededSnapshots: compaction.supersededSnapshots,
          thinnedHealth: compaction.thinnedHealth,
        },
        'outbox full: compacted (older complete inventory snapshots superseded, health reports thinned)',
      );
    } else if (evicted.some((message) => message.stream === 'inventory')) {
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
function gapReportBody(message: EvictedMessage): SeqGapBody | undefined {
  if (message.stream !== 'events' || !message.payload) return undefined;
  try {
    const parsed = seqGapEnvelopeSchema.safeParse(JSON.parse(message.payload.toString('utf8')));
    return parsed.success && parsed.data.type === MESSAGE_TYPES.seqGap ? parsed.data.body : undefined;
  } catch {
    return undefined;
  }
}
