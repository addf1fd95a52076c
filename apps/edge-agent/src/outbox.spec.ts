import { describe, expect, it } from 'vitest';
import { MemoryOutbox, type OutboxMessage } from './outbox.js';

function message(seq: number, stream: 'inventory' | 'health' | 'events', bytes = 10): OutboxMessage {
  return { seq, stream, topic: `t/${stream}`, payload: Buffer.alloc(bytes) };
}

const seqsOf = (outbox: MemoryOutbox) => outbox.pending().map((held) => held.seq);

describe('MemoryOutbox', () => {
  it('keeps messages in seq order until an ack covers them', async () => {
    const outbox = new MemoryOutbox();
    for (let seq = 1; seq <= 5; seq += 1)
      await outbox.append(message(seq, seq === 1 ? 'inventory' : 'health'));
    expect(seqsOf(outbox)).toEqual([1, 2, 3, 4, 5]);
    expect(await outbox.ackUpTo(3)).toBe(3);
    expect(seqsOf(outbox)).toEqual([4, 5]);
    expect(await outbox.ackUpTo(3)).toBe(0);
    expect(await outbox.ackUpTo(99)).toBe(2);
    expect(outbox.depth()).toBe(0);
  });

  it('refuses a seq that does not rise', async () => {
    const outbox = new MemoryOutbox();
    await outbox.append(message(5, 'health'));
    await expect(outbox.append(message(5, 'health'))).rejects.toThrow(RangeError);
    await expect(outbox.append(message(4, 'health'))).rejects.toThrow(RangeError);
  });

  it('when full, evicts the oldest health reports before any inventory', async () => {
    const outbox = new MemoryOutbox({ maxMessages: 4 });
    await outbox.append(message(1, 'inventory'));
    await outbox.append(message(2, 'health'));
    await outbox.append(message(3, 'inventory'));
    await outbox.append(message(4, 'health'));
    const first = await outbox.append(message(5, 'health'));
    expect(first.evicted.map((held) => held.seq)).toEqual([2]);
    const second = await outbox.append(message(6, 'inventory'));
    expect(second.evicted.map((held) => held.seq)).toEqual([4]);
    expect(seqsOf(outbox)).toEqual([1, 3, 5, 6]);
    expect(outbox.depth()).toBe(4);
  });

  it('evicts the oldest inventory only when nothing else is left', async () => {
    const outbox = new MemoryOutbox({ maxMessages: 2 });
    await outbox.append(message(1, 'inventory'));
    await outbox.append(message(2, 'inventory'));
    const { evicted } = await outbox.append(message(3, 'health'));
    expect(evicted.map((held) => [held.seq, held.stream])).toEqual([[1, 'inventory']]);
    expect(seqsOf(outbox)).toEqual([2, 3]);
  });

  it('bounds the bytes held as well as the count', async () => {
    const outbox = new MemoryOutbox({ maxBytes: 100 });
    await outbox.append(message(1, 'inventory', 60));
    await outbox.append(message(2, 'health', 30));
    const { evicted } = await outbox.append(message(3, 'inventory', 30));
    expect(evicted.map((held) => held.seq)).toEqual([2]);
    expect(seqsOf(outbox)).toEqual([1, 3]);
    await outbox.ackUpTo(1);
    expect((await outbox.append(message(4, 'inventory', 70))).evicted).toEqual([]);
  });

  it('evicts gap reports (events) only after every health report and inventory snapshot', async () => {
    const outbox = new MemoryOutbox({ maxMessages: 3 });
    await outbox.append(message(1, 'events'));
    await outbox.append(message(2, 'inventory'));
    await outbox.append(message(3, 'health'));
    expect((await outbox.append(message(4, 'events'))).evicted.map((held) => held.seq)).toEqual([3]);
    expect((await outbox.append(message(5, 'events'))).evicted.map((held) => held.seq)).toEqual([2]);
    const { evicted } = await outbox.append(message(6, 'health'));
    expect(evicted.map((held) => [held.seq, held.stream])).toEqual([[1, 'events']]);
    expect(seqsOf(outbox)).toEqual([4, 5, 6]);
  });

  it('removes the messages a new one supersedes before checking its bounds', async () => {
    const outbox = new MemoryOutbox({ maxMessages: 10, maxBytes: 100 });
    await outbox.append(message(1, 'inventory', 30));
    await outbox.append(message(2, 'events', 30));
    await outbox.append(message(3, 'health', 30));
    const result = await outbox.append(message(4, 'events', 40), { supersedes: [2, 99] });
    expect(result.superseded.map((held) => held.seq)).toEqual([2]);
    expect(result.evicted).toEqual([]);
    expect(seqsOf(outbox)).toEqual([1, 3, 4]);
    // The bytes of what was superseded are freed: 30 + 30 + 40 held, so one more byte evicts.
    const next = await outbox.append(message(5, 'events', 1), { supersedes: [] });
    expect(next.evicted.map((held) => held.seq)).toEqual([3]);
  });

  it('refuses nonsensical bounds', () => {
    expect(() => new MemoryOutbox({ maxMessages: 0 })).toThrow(RangeError);
  });
});
