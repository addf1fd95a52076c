/**
 * Serializes work per key (an agent) and hands it over in batches: while one batch of a key is being
 * processed, what arrives for that key waits and goes in the next batch, in arrival order. Keys are
 * independent of each other. Nothing is dropped: every submitted item's promise settles with its result.
 */
export class PerAgentQueue<Item, Result> {
  private readonly pending = new Map<string, { item: Item; settle: Settle<Result> }[]>();

  constructor(
    private readonly keyOf: (item: Item) => string,
    /** Must resolve with one result per item, in order; a rejection fails every item of the batch. */
    private readonly process: (batch: Item[]) => Promise<Result[]>,
    private readonly batchMax: number,
  ) {}

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const key = this.keyOf(item);
      const queued = this.pending.get(key);
      const entry = { item, settle: { resolve, reject } };
      if (queued) {
        queued.push(entry);
        return;
      }
      this.pending.set(key, [entry]);
      void this.drain(key);
    });
  }

  /** Keys with work queued or in progress. */
  size(): number {
    return this.pending.size;
  }

  private async drain(key: string): Promise<void> {
    // The key's array stays in the map while its worker runs, so submits append to it instead of
    // starting a second worker.
    const queued = this.pending.get(key) as { item: Item; settle: Settle<Result> }[];
    while (queued.length > 0) {
      const batch = queued.splice(0, this.batchMax);
      try {
        const results = await this.process(batch.map((entry) => entry.item));
        batch.forEach((entry, index) => {
          if (index < results.length) entry.settle.resolve(results[index] as Result);
          else entry.settle.reject(new Error('no result for a queued item'));
        });
      } catch (error) {
        for (const entry of batch) entry.settle.reject(error);
      }
    }
    this.pending.delete(key);
  }
}

interface Settle<Result> {
  resolve(result: Result): void;
  reject(error: unknown): void;
}
