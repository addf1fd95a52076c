/**
 * Messages published but not yet committed by the control plane. Delivery is end to end: a message stays
 * here until a `cmd/ack` covers its seq, and is re-published until then. This in-memory outbox is bounded
 * and lost on restart; a durable one (a later issue) implements the same `Outbox` interface.
 *
 * An outbox only stores: it reports what it evicted or superseded, and the delivery layer declares those
 * seqs to the control plane in a gap report (see `delivery.ts`).
 */
import type { UplinkStream } from '@medfleet/contracts';

export interface OutboxMessage {
  seq: number;
  stream: UplinkStream;
  topic: string;
  /** The encoded envelope; re-published byte for byte, so duplicates are exact. */
  payload: Buffer;
}

export interface AppendOptions {
  /**
   * Seqs of held messages the new one replaces (a gap report that re-declares what older ones did): they
   * are removed in the same step, before the bounds are checked. Seqs not held are ignored.
   */
  supersedes?: readonly number[];
}

export interface AppendResult {
  /**
   * Older messages evicted to make room: health reports first, then inventory, then anything else (gap
   * reports), oldest first within each. The caller must declare their seqs lost.
   */
  evicted: OutboxMessage[];
  /** The held messages removed because the new one supersedes them (`AppendOptions.supersedes`). */
  superseded: OutboxMessage[];
}

export interface Outbox {
  /** Adds a message; its seq must be higher than every seq already held. */
  append(message: OutboxMessage, options?: AppendOptions): Promise<AppendResult>;
  /** Drops every message with seq ≤ `ackedSeq`; returns how many were dropped. */
  ackUpTo(ackedSeq: number): Promise<number>;
  /** The held messages in seq order. */
  pending(): readonly OutboxMessage[];
  depth(): number;
}

export interface MemoryOutboxOptions {
  /** Most messages held at once. */
  maxMessages?: number;
  /** Most payload bytes held at once; inventory snapshots can be large and a Raspberry Pi's memory is not. */
  maxBytes?: number;
}

export const DEFAULT_OUTBOX_MAX_MESSAGES = 10_000;
export const DEFAULT_OUTBOX_MAX_BYTES = 32 * 1024 * 1024;
/** Streams evicted first when the outbox is full, in this order; any other stream only after them. */
const EVICTION_ORDER: readonly UplinkStream[] = ['health', 'inventory'];

export class MemoryOutbox implements Outbox {
  private readonly messages: OutboxMessage[] = [];
  private bytes = 0;
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
      (this.messages.length + 1 > this.maxMessages || this.bytes + message.payload.length > this.maxBytes)
    ) {
      evicted.push(this.evictOne());
    }
    this.messages.push(message);
    this.bytes += message.payload.length;
    return { evicted, superseded };
  }

  async ackUpTo(ackedSeq: number): Promise<number> {
    let count = 0;
    while (count < this.messages.length && (this.messages[count] as OutboxMessage).seq <= ackedSeq)
      count += 1;
    for (const message of this.messages.splice(0, count)) this.bytes -= message.payload.length;
    return count;
  }

  pending(): readonly OutboxMessage[] {
    return this.messages;
  }

  depth(): number {
    return this.messages.length;
  }

  private removeSeqs(seqs: ReadonlySet<number>): OutboxMessage[] {
    if (seqs.size === 0) return [];
    const removed: OutboxMessage[] = [];
    for (let index = this.messages.length - 1; index >= 0; index -= 1) {
      const message = this.messages[index] as OutboxMessage;
      if (!seqs.has(message.seq)) continue;
      this.messages.splice(index, 1);
      this.bytes -= message.payload.length;
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
    this.bytes -= message.payload.length;
    return message;
  }
}
