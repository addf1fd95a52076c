/**
 * Sets of seqs as sorted, disjoint, non-adjacent inclusive ranges: the shape in which a gap report
 * (`agent.seq_gap`) declares the seqs the agent will never deliver.
 */
import { MAX_GAP_SEQS } from '@medfleet/contracts';

export interface SeqRange {
  fromSeq: number;
  toSeq: number;
}

/** Most ranges one gap report may carry (the contract's limit). */
export const MAX_GAP_RANGES = 1000;

/** Sorts and merges overlapping or adjacent ranges; empty ranges (`toSeq < fromSeq`) are dropped. */
export function normalizeRanges(ranges: Iterable<SeqRange>): SeqRange[] {
  const sorted = [...ranges]
    .filter((range) => range.toSeq >= range.fromSeq)
    .sort((a, b) => a.fromSeq - b.fromSeq);
  const merged: SeqRange[] = [];
  for (const range of sorted) {
    const last = merged.at(-1);
    if (last && range.fromSeq <= last.toSeq + 1) last.toSeq = Math.max(last.toSeq, range.toSeq);
    else merged.push({ fromSeq: range.fromSeq, toSeq: range.toSeq });
  }
  return merged;
}

/** Single seqs as ranges, adjacent ones merged: 3, 4, 5, 9 → 3..5, 9..9. */
export function rangesOf(seqs: Iterable<number>): SeqRange[] {
  return normalizeRanges(Array.from(seqs, (seq) => ({ fromSeq: seq, toSeq: seq })));
}

export function countSeqs(ranges: readonly SeqRange[]): number {
  return ranges.reduce((sum, range) => sum + range.toSeq - range.fromSeq + 1, 0);
}

/** The seqs of `ranges` above `floor`. */
export function rangesAbove(ranges: Iterable<SeqRange>, floor: number): SeqRange[] {
  return normalizeRanges(
    [...ranges].map((range) => ({ fromSeq: Math.max(range.fromSeq, floor + 1), toSeq: range.toSeq })),
  );
}

/** The seqs of `ranges` that are not in `seqs`. */
export function rangesWithout(ranges: Iterable<SeqRange>, seqs: Iterable<number>): SeqRange[] {
  const holes = [...new Set(seqs)].sort((a, b) => a - b);
  const result: SeqRange[] = [];
  let next = 0;
  for (const range of normalizeRanges(ranges)) {
    let fromSeq = range.fromSeq;
    while (next < holes.length && (holes[next] as number) < fromSeq) next += 1;
    while (next < holes.length && (holes[next] as number) <= range.toSeq) {
      const hole = holes[next] as number;
      if (hole > fromSeq) result.push({ fromSeq, toSeq: hole - 1 });
      fromSeq = hole + 1;
      next += 1;
    }
    if (fromSeq <= range.toSeq) result.push({ fromSeq, toSeq: range.toSeq });
  }
  return result;
}

/** The seqs of `ranges` that no range of `minus` covers. */
export function rangesMinus(ranges: Iterable<SeqRange>, minus: Iterable<SeqRange>): SeqRange[] {
  const holes = normalizeRanges(minus);
  const result: SeqRange[] = [];
  let next = 0;
  for (const range of normalizeRanges(ranges)) {
    let fromSeq = range.fromSeq;
    while (next < holes.length && (holes[next] as SeqRange).toSeq < fromSeq) next += 1;
    let index = next;
    while (index < holes.length && (holes[index] as SeqRange).fromSeq <= range.toSeq) {
      const hole = holes[index] as SeqRange;
      if (hole.fromSeq > fromSeq) result.push({ fromSeq, toSeq: hole.fromSeq - 1 });
      fromSeq = Math.max(fromSeq, hole.toSeq + 1);
      index += 1;
    }
    if (fromSeq <= range.toSeq) result.push({ fromSeq, toSeq: range.toSeq });
  }
  return result;
}

/**
 * Splits ranges into groups that each fit one gap report: at most `maxRanges` ranges and `maxSeqs` seqs
 * (a range too big for what is left of a group is cut in two).
 */
export function chunkRanges(
  ranges: Iterable<SeqRange>,
  maxSeqs: number = MAX_GAP_SEQS,
  maxRanges: number = MAX_GAP_RANGES,
): SeqRange[][] {
  if (!(maxSeqs >= 1) || !(maxRanges >= 1)) throw new RangeError('chunk bounds must be at least 1');
  const chunks: SeqRange[][] = [];
  let current: SeqRange[] = [];
  let count = 0;
  for (const range of normalizeRanges(ranges)) {
    let fromSeq = range.fromSeq;
    while (fromSeq <= range.toSeq) {
      if (current.length === maxRanges || count === maxSeqs) {
        chunks.push(current);
        current = [];
        count = 0;
      }
      const toSeq = Math.min(range.toSeq, fromSeq + (maxSeqs - count) - 1);
      current.push({ fromSeq, toSeq });
      count += toSeq - fromSeq + 1;
      fromSeq = toSeq + 1;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
