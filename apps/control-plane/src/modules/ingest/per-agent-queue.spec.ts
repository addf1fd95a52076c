import { describe, expect, it } from 'vitest';
import { PerAgentQueue } from './per-agent-queue.js';

interface Item {
  agent: string;
  n: number;
}

/** A processor that records its batches and finishes each when the test says so. */
function controlled() {
  const batches: Item[][] = [];
  const gates: (() => void)[] = [];
  const process = (batch: Item[]) =>
    new Promise<string[]>((resolve) => {
      batches.push(batch);
      gates.push(() => resolve(batch.map((item) => `${item.agent}:${item.n}`)));
    });
  const release = async () => {
    const gate = gates.shift();
    if (!gate) throw new Error('no batch is waiting');
    gate();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batches, process, release };
}

describe('PerAgentQueue', () => {
  it('runs one batch per key at a time and puts what arrived meanwhile, in order, into the next', async () => {
    const { batches, process, release } = controlled();
    const queue = new PerAgentQueue<Item, string>((item) => item.agent, process, 3);
    const results = [1, 2, 3, 4, 5, 6, 7].map((n) => queue.submit({ agent: 'a', n }));
    expect(batches.map((batch) => batch.map((item) => item.n))).toEqual([[1]]);
    await release();
    expect(batches.map((batch) => batch.map((item) => item.n))).toEqual([[1], [2, 3, 4]]);
    await release();
    await release();
    expect(batches.map((batch) => batch.map((item) => item.n))).toEqual([[1], [2, 3, 4], [5, 6, 7]]);
    expect(await Promise.all(results)).toEqual(['a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'a:6', 'a:7']);
    expect(queue.size()).toBe(0);
  });

  it('keeps keys independent: a slow key does not hold another back', async () => {
    const { batches, process, release } = controlled();
    const queue = new PerAgentQueue<Item, string>((item) => item.agent, process, 10);
    void queue.submit({ agent: 'slow', n: 1 });
    const fast = queue.submit({ agent: 'fast', n: 1 });
    expect(batches).toHaveLength(2);
    expect(batches.map((batch) => batch[0]?.agent)).toEqual(['slow', 'fast']);
    await release();
    await release();
    expect(await fast).toBe('fast:1');
  });

  it('fails every item of a batch whose processing fails, and goes on with the next batch', async () => {
    let calls = 0;
    const queue = new PerAgentQueue<Item, string>(
      (item) => item.agent,
      async (batch) => {
        calls += 1;
        if (calls === 1) throw new Error('database gone');
        return batch.map((item) => String(item.n));
      },
      10,
    );
    const first = queue.submit({ agent: 'a', n: 1 });
    const second = queue.submit({ agent: 'a', n: 2 });
    await expect(first).rejects.toThrow('database gone');
    await expect(second).resolves.toBe('2');
  });

  it('rejects items the processor returned no result for instead of leaving them pending', async () => {
    const queue = new PerAgentQueue<Item, string>(
      (item) => item.agent,
      async (batch) => batch.slice(1).map((item) => String(item.n)),
      10,
    );
    await expect(queue.submit({ agent: 'a', n: 1 })).rejects.toThrow('no result');
  });
});
