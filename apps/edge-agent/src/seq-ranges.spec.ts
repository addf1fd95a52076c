import { MAX_GAP_SEQS, seqGapBodySchema } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import {
  chunkRanges,
  countSeqs,
  MAX_GAP_RANGES,
  normalizeRanges,
  rangesAbove,
  rangesMinus,
  rangesOf,
  rangesWithout,
} from './seq-ranges.js';

const r = (fromSeq: number, toSeq: number) => ({ fromSeq, toSeq });

describe('seq ranges', () => {
  it('merges adjacent and repeated seqs into sorted ranges', () => {
    expect(rangesOf([9, 3, 5, 4, 4, 11, 12, 10, 20])).toEqual([r(3, 5), r(9, 12), r(20, 20)]);
    expect(rangesOf([])).toEqual([]);
    expect(normalizeRanges([r(10, 12), r(1, 3), r(4, 4), r(11, 15), r(7, 6)])).toEqual([r(1, 4), r(10, 15)]);
    expect(countSeqs([r(1, 4), r(10, 15)])).toBe(10);
  });

  it('removes single seqs and everything up to a floor', () => {
    expect(rangesWithout([r(1, 10)], [1, 4, 5, 10, 99])).toEqual([r(2, 3), r(6, 9)]);
    expect(rangesWithout([r(1, 3), r(7, 9)], [2, 8])).toEqual([r(1, 1), r(3, 3), r(7, 7), r(9, 9)]);
    expect(rangesWithout([r(5, 5)], [5])).toEqual([]);
    expect(rangesAbove([r(1, 3), r(5, 9)], 6)).toEqual([r(7, 9)]);
    expect(rangesAbove([r(1, 3)], 3)).toEqual([]);
  });

  it('removes whole ranges, however they overlap', () => {
    expect(rangesMinus([r(1, 10)], [r(3, 4), r(8, 20)])).toEqual([r(1, 2), r(5, 7)]);
    expect(rangesMinus([r(1, 3), r(5, 9), r(12, 12)], [r(2, 6)])).toEqual([r(1, 1), r(7, 9), r(12, 12)]);
    expect(rangesMinus([r(1, 5)], [r(0, 100)])).toEqual([]);
    expect(rangesMinus([r(1, 5)], [])).toEqual([r(1, 5)]);
    expect(rangesMinus([r(5, 9), r(1, 2)], [r(9, 9), r(1, 1), r(4, 4)])).toEqual([r(2, 2), r(5, 8)]);
    // Against a brute-force set difference.
    let state = 11;
    const random = (n: number) => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      return state % n;
    };
    for (let round = 0; round < 200; round += 1) {
      const spans = (count: number) =>
        Array.from({ length: count }, () => {
          const fromSeq = 1 + random(60);
          return r(fromSeq, fromSeq + random(8));
        });
      const ranges = spans(1 + random(5));
      const minus = spans(random(6));
      const expected = new Set<number>();
      for (const { fromSeq, toSeq } of ranges) for (let s = fromSeq; s <= toSeq; s += 1) expected.add(s);
      for (const { fromSeq, toSeq } of minus) for (let s = fromSeq; s <= toSeq; s += 1) expected.delete(s);
      expect(rangesMinus(ranges, minus)).toEqual(rangesOf(expected));
    }
  });

  it('splits what does not fit one gap report, by seqs and by ranges', () => {
    expect(chunkRanges([r(1, 10)], 4)).toEqual([[r(1, 4)], [r(5, 8)], [r(9, 10)]]);
    expect(chunkRanges([r(1, 2), r(4, 6), r(8, 8)], 4)).toEqual([
      [r(1, 2), r(4, 5)],
      [r(6, 6), r(8, 8)],
    ]);
    expect(chunkRanges([r(1, 1), r(3, 3), r(5, 5)], 100, 2)).toEqual([[r(1, 1), r(3, 3)], [r(5, 5)]]);
    expect(chunkRanges([])).toEqual([]);

    const lost = [r(11, 250_010)];
    const chunks = chunkRanges(lost);
    expect(chunks).toEqual([[r(11, 100_010)], [r(100_011, 200_010)], [r(200_011, 250_010)]]);
    const sparse = rangesOf(Array.from({ length: 2_500 }, (_, index) => index * 2 + 1));
    const sparseChunks = chunkRanges(sparse);
    expect(sparseChunks.map((chunk) => chunk.length)).toEqual([MAX_GAP_RANGES, MAX_GAP_RANGES, 500]);
    for (const chunk of [...chunks, ...sparseChunks]) {
      expect(seqGapBodySchema.safeParse({ reason: 'evicted', ranges: chunk }).success).toBe(true);
      expect(countSeqs(chunk)).toBeLessThanOrEqual(MAX_GAP_SEQS);
    }
    expect(normalizeRanges(chunks.flat())).toEqual(lost);
    expect(normalizeRanges(sparseChunks.flat())).toEqual(sparse);
  });
});
