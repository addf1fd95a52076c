/**
 * Messages published but not yet committed by the control plane. Delivery is end to end: a message stays
 * here until a `cmd/ack` covers its seq, and is re-published until then. Two implementations: this in-memory
 * one (bounded, lost on restart: tests and embedding) and the durable SQLite one in `sqlite-outbox.ts`, which
 * the agent uses by default.
 *
 * An outbox only stores: it reports what it evicted, compacted or superseded, and the delivery layer declares
 * those seqs to the control plane in a gap report (see `delivery.ts`).
 */
import type { UplinkStream } from '@medfleet/contracts';
import type { Logger } from './logger.js';

export interface OutboxMessage {
  seq: number;
  stream: UplinkStream;
  topic: string;
  /** The encoded envelope; re-published byte for byte, so duplicates are exact. */
  payload: Buffer;
}

/**
 * A message removed to make room. The payload is there for gap reports (`events`), whose ranges the next
 * report must carry on; an outbox may leave it out for anything else (compacting thousands of health reports
 * should not read them all back).
 */
export interface EvictedMessage {
  seq: number;
  stream: UplinkStream;
  payload?: Buffer;
}

export interface AppendOptions {
  /**
   * Seqs of held messages the new one replaces (a gap report that re-declares what older ones did): they
   * are removed in the same step, before the bounds are checked. Seqs not held are ignored.
   */
  supersedes?: readonly number[];
}

/** What a full outbox did to make room, for the logs (the seqs themselves are in `evicted`). */
export interface CompactionSummary {
  /** Complete inventory snapshots dropped because a newer complete one is held. */
  supersededSnapshots: number;
  /** Health reports thinned out (every other one of those held, the newest always kept). */
  thinnedHealth: number;
  /** True when what is left (never dropped: the newest snapshot, inventory changes, events) is over the bounds. */
  overQuota: boolean;
}

export interface AppendResult {
  /**
   * Older messages removed to make room. The in-memory outbox evicts health reports first, then inventory,
   * then anything else (gap reports), oldest first within each; the durable one compacts (see
   * `CompactionSummary`). The caller must declare their seqs lost.
   */
  evicted: EvictedMessage[];
  /** The held messages removed because the new one supersedes them (`AppendOptions.supersedes`). */
  superseded: OutboxMessage[];
  /** Set by an outbox that compacts instead of evicting in plain order. */
  compaction?: CompactionSummary;
}

export interface Outbox {
  /** True when held messages survive a restart (and a power cut). */
  readonly durable: boolean;
  /** Adds a message; its seq must be higher than every seq already held. Durable once the promise resolves. */
  append(message: OutboxMessage, options?: AppendOptions): Promise<AppendResult>;
  /** Drops every message with seq ≤ `ackedSeq`; returns how many were dropped. */
  ackUpTo(ackedSeq: number): Promise<number>;
  /** At most `limit` held messages with a seq above `afterSeq`, in seq order: replay reads page by page. */
  read(afterSeq: number, limit: number): OutboxMessage[];
  /** The held messages of one stream, in seq order (the delivery layer reads its gap reports back). */
  readStream(stream: UplinkStream): OutboxMessage[];
  /** The seqs held, in order. */
  seqs(): number[];
  /** How many held messages have a seq ≤ `seq`. */
  countUpTo(seq: number): number;
  /** Every held message in seq order. Reads them all: tests and diagnostics, not the delivery path. */
  pending(): readonly OutboxMessage[];
  depth(): number;
  /** Bytes held, as the bounds count them. */
  bytes(): number;
  /** Releases the outbox's files; it must not be used afterwards. */
  close(): Promise<void>;
}

/** What an agent hands the outbox it opens at start (after it has locked its state directory). */
export interface OutboxContext {
  stateDir: string;
  agentId: string;
  logger: Logger;
}

/** Opens an outbox for an agent: `sqliteOutbox()` (the default), or `() => new MemoryOutbox()`. */
export type OutboxFactory = (context: OutboxContext) => Outbox | Promise<Outbox>;

export interface MemoryOutboxOptions {
  /** Most messages held at once. */
  maxMessages?: number;
  /** Most payload bytes held at once; inventory snapshots can be large and a Raspberry Pi's memory is not. */
  maxBytes?: number;
}

/**
 * The durable outbox's quota (`sqlite-outbox.ts`; defined here so the command line can show them without
 * loading SQLite). 256 MiB: on a Raspberry Pi's SD card, days of reports at the default intervals even
 * before compaction.
 */
export const DEFAULT_DURABLE_OUTBOX_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES = 500_000;

export const DEFAULT_OUTBOX_MAX_MESSAGES = 10_000;
export const DEFAULT_OUTBOX_MAX_BYTES = 32 * 1024 * 1024;
/** Streams evicted first when the outbox is full, in this order; any other stream only after them. */
const EVICTION_ORDER: readonly UplinkStream[] = ['health', 'inventory'];

export class MemoryOutbox implements Outbox {
  readonly durable = false;
  private readonly messages: OutboxMessage[] = [];
  private heldBytes = 0;
  private readonly maxMessages: number;
  private readonly maxBytes: number;

  constructor(options: MemoryOutboxOptions = {}) {
    this.maxMessages = options.maxMessages ?? DEFAULT_OUTBOX_MAX_MESSAGES;
    this.maxBytes = options.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    if (!(this.maxMessages >= 1) || !(this.maxBytes >= 1)) {
      throw new RangeError('outbox bounds must be at least 1');
    }
  }

  async append(message: OutboxMessage, options: AppendOptions = {}): Promise<AppendResult> {
    const last = this.messages.at(-1);
    if (last && message.seq <= last.seq) {
      throw new RangeError(`outbox seq must rise: ${message.seq} after ${last.seq}`);
    }
    const superseded = this.removeSeqs(new Set(options.supersedes ?? []));
    const evicted: OutboxMessage[] = [];
    while (
      this.messages.length > 0 &&
      (this.messages.length + 1 > this.maxMessages || this.heldBytes + message.payload.length > this.maxBytes)
    ) {
      evicted.push(this.evictOne());
    }
    this.messages.push(message);
    this.heldBytes += message.payload.length;
    return { evicted, superseded };
  }

  async ackUpTo(ackedSeq: number): Promise<number> {
    let count = 0;
    while (count < this.messages.length && (this.messages[count] as OutboxMessage).seq <= ackedSeq)
      count += 1;
    for (const message of this.messages.splice(0, count)) this.heldBytes -= message.payload.length;
    return count;
  }

  read(afterSeq: number, limit: number): OutboxMessage[] {
    const start = this.countUpTo(afterSeq);
    return this.messages.slice(start, start + Math.max(0, limit));
  }

  countUpTo(seq: number): number {
    // Seqs rise through the array: binary search for the first one above `seq`.
    let low = 0;
    let high = this.messages.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.messages[middle] as OutboxMessage).seq <= seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  readStream(stream: UplinkStream): OutboxMessage[] {
    return this.messages.filter((message) => message.stream === stream);
  }

  seqs(): number[] {
    return this.messages.map((message) => message.seq);
  }

  pending(): readonly OutboxMessage[] {
    return this.messages;
  }

  depth(): number {
    return this.messages.length;
  }

  bytes(): number {
    return this.heldBytes;
  }

  async close(): Promise<void> {
    // Nothing to release.
  }

  private removeSeqs(seqs: ReadonlySet<number>): OutboxMessage[] {
    if (seqs.size === 0) return [];
    const removed: OutboxMessage[] = [];
    for (let index = this.messages.length - 1; index >= 0; index -= 1) {
      const message = this.messages[index] as OutboxMessage;
      if (!seqs.has(message.seq)) continue;
      this.messages.splice(index, 1);
      this.heldBytes -= message.payload.length;
      removed.unshift(message);
    }
    return removed;
  }

  /**
   * Health reports are superseded by the next one, so they go first; then inventory (the next complete
   * snapshot replaces it). Gap reports (`events`) go last: each one is what lets the control plane's ack
   * move past seqs that are already gone.
   */
  private evictOne(): OutboxMessage {
    let index = -1;
    for (const stream of EVICTION_ORDER) {
      index = this.messages.findIndex((message) => message.stream === stream);
      if (index >= 0) break;
    }
    const [evicted] = this.messages.splice(Math.max(index, 0), 1);
    const message = evicted as OutboxMessage;
    this.heldBytes -= message.payload.length;
    return message;
  }
}
