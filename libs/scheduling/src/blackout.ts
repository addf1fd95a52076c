// Blackout periods: times when no maintenance may run, whatever the policy says.
import { SchedulingError, SchedulingErrorCode } from './scheduling.error.js';
import { type Instant, parseLocalDate, toEpochMs } from './time.js';

/** Who declared the blackout; the caller passes a site only the blackouts that reach it (see blackoutsForSite). */
export type BlackoutScope =
  | { readonly level: 'organization' }
  | { readonly level: 'county'; readonly county: string }
  | { readonly level: 'site'; readonly siteId: string };

/** An absolute period, the same instant everywhere (a hurricane freeze from Monday 12:00 UTC). */
export interface IntervalBlackout {
  readonly kind: 'interval';
  readonly id: string;
  readonly start: Instant;
  /** Exclusive. */
  readonly end: Instant;
  readonly scope?: BlackoutScope;
  readonly reason?: string;
}

/**
 * Whole nights in each site's own calendar (a public holiday): every window that opens on a local date from
 * `firstDate` to `lastDate` (inclusive, `YYYY-MM-DD`) is removed.
 */
export interface LocalDatesBlackout {
  readonly kind: 'local-dates';
  readonly id: string;
  readonly firstDate: string;
  readonly lastDate: string;
  readonly scope?: BlackoutScope;
  readonly reason?: string;
}

export type Blackout = IntervalBlackout | LocalDatesBlackout;

export interface SiteIdentity {
  readonly id: string;
  readonly county?: string | null;
}

/** The blackouts that reach a site: unscoped and organization-wide ones, its county's and its own. */
export function blackoutsForSite(site: SiteIdentity, blackouts: readonly Blackout[]): Blackout[] {
  const county = normalizeCounty(site.county);
  return blackouts.filter((blackout) => {
    const scope = blackout.scope;
    if (!scope || scope.level === 'organization') return true;
    if (scope.level === 'county') return county !== undefined && normalizeCounty(scope.county) === county;
    return scope.siteId === site.id;
  });
}

function normalizeCounty(county: string | null | undefined): string | undefined {
  const text = county?.trim().toLowerCase();
  return text ? text : undefined;
}

/** Blackouts in the form the window math uses: merged UTC intervals and merged ranges of local day numbers. */
export interface CompiledBlackouts {
  /** Sorted, disjoint [start, end) pairs, flattened: start0, end0, start1, end1, … */
  readonly intervals: readonly number[];
  /** Sorted, disjoint inclusive [first, last] day-number pairs, flattened. */
  readonly nights: readonly number[];
  readonly empty: boolean;
}

export const NO_BLACKOUTS: CompiledBlackouts = Object.freeze({ intervals: [], nights: [], empty: true });

/** Checks and compiles blackouts. Throws INVALID_BLACKOUT naming the first bad one. */
export function compileBlackouts(blackouts: readonly Blackout[] | undefined): CompiledBlackouts {
  if (!blackouts || blackouts.length === 0) return NO_BLACKOUTS;
  const intervals: [number, number][] = [];
  const nights: [number, number][] = [];
  for (const blackout of blackouts) {
    if (blackout.kind === 'interval') {
      const start = toEpochMs(blackout.start, 'start');
      const end = toEpochMs(blackout.end, 'end');
      if (!(end > start)) throw invalid(blackout, 'its end must be after its start');
      intervals.push([start, end]);
    } else if (blackout.kind === 'local-dates') {
      const first = parseLocalDate(blackout.firstDate);
      const last = parseLocalDate(blackout.lastDate);
      if (first === undefined || last === undefined) throw invalid(blackout, 'its dates must be YYYY-MM-DD');
      if (last < first) throw invalid(blackout, 'its lastDate is before its firstDate');
      nights.push([first, last]);
    } else {
      throw invalid(blackout, "its kind must be 'interval' or 'local-dates'");
    }
  }
  return { intervals: mergeRanges(intervals, 0), nights: mergeRanges(nights, 1), empty: false };
}

function invalid(blackout: Blackout, problem: string): SchedulingError {
  const id = (blackout as { id?: unknown }).id;
  return new SchedulingError(SchedulingErrorCode.INVALID_BLACKOUT, `blackout ${String(id)}: ${problem}`, {
    blackoutId: id,
  });
}

/** Sorts and merges ranges; `touch` is the gap that still joins two ranges (0 for [a,b), 1 for inclusive days). */
function mergeRanges(ranges: [number, number][], touch: number): number[] {
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const flat: number[] = [];
  for (const [start, end] of ranges) {
    const last = flat.length - 1;
    if (last > 0 && start <= (flat[last] as number) + touch) {
      flat[last] = Math.max(flat[last] as number, end);
    } else {
      flat.push(start, end);
    }
  }
  return flat;
}
