// Window instances: the concrete UTC intervals in which a site's policy allows maintenance.
//
// The boundary rule (also in the README): a window opens at the first instant from which the site's clock reads
// the start time or later without falling back below it, and closes at the first instant after that at which the
// clock reads the end time or later. So
// - a boundary the clock skips (spring forward) falls on the jump itself, the first instant after the gap;
// - a start the clock reads twice (fall back) uses the second reading (the first when the clock falls back exactly
//   to the start time), an end read twice uses the first;
// - a window the clock skips entirely (02:00–02:30 on a spring-forward night) does not happen that night.
// The rule keeps one promise: at every instant inside a window the site's clock shows a time inside the window,
// so an agent that checks a work order against its own clock never sees a planned job as out of hours; and the
// window is the longest stretch for which that holds.
import { type Blackout, type CompiledBlackouts, compileBlackouts } from './blackout.js';
import { compilePolicy, type CompiledPolicy, type MaintenancePolicy } from './maintenance-policy.js';
import { SchedulingError, SchedulingErrorCode } from './scheduling.error.js';
import {
  DAY_MS,
  formatLocalDate,
  formatUtc,
  formatWallTime,
  type Instant,
  MINUTE_MS,
  toEpochMs,
  weekdayOfDay,
} from './time.js';
import { type ZoneClock, zoneClock } from './zone-clock.js';

/** What the window math needs to know about a site. */
export interface MaintenanceSite {
  /** IANA zone, e.g. `America/New_York`. */
  readonly timeZone: string;
  readonly policy?: MaintenancePolicy;
}

export interface WindowInstance {
  /** The night the window belongs to: the site-local date (`YYYY-MM-DD`) on which it opens. */
  readonly localDate: string;
  /** First instant of the window (epoch ms). */
  readonly startMs: number;
  /** First instant after the window (epoch ms, exclusive): the deadline of any job in it. */
  readonly endMs: number;
  /** True when a blackout cut this piece out of a longer window (a window can be split into several pieces). */
  readonly clipped: boolean;
}

/** A window before blackouts, as the planner keeps it. */
export interface NightWindow {
  /** Local day number (days since 1970-01-01) of the night. */
  readonly day: number;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * The windows of a site that overlap [from, to), whole (not clipped to the range), in order, disjoint; cut by the
 * given blackouts (pass only those that reach the site, see blackoutsForSite).
 */
export function maintenanceWindows(
  site: MaintenanceSite,
  range: { readonly from: Instant; readonly to: Instant },
  blackouts?: readonly Blackout[],
): WindowInstance[] {
  const fromMs = toEpochMs(range.from, 'from');
  const toMs = toEpochMs(range.to, 'to');
  if (!(toMs > fromMs)) {
    throw new SchedulingError(SchedulingErrorCode.INVALID_RANGE, 'the range must end after it starts', {
      from: range.from,
      to: range.to,
    });
  }
  const nights = nightWindows(zoneClock(site.timeZone), compilePolicy(site.policy), fromMs, toMs);
  return applyBlackouts(nights, compileBlackouts(blackouts)).filter(
    (window) => window.endMs > fromMs && window.startMs < toMs,
  );
}

/** The window (or window piece) containing an instant, or null when maintenance is not allowed then. */
export function windowAt(
  site: MaintenanceSite,
  instant: Instant,
  blackouts?: readonly Blackout[],
): WindowInstance | null {
  const ms = toEpochMs(instant);
  const around = maintenanceWindows(site, { from: ms, to: ms + 1 }, blackouts);
  return around.find((window) => window.startMs <= ms && ms < window.endMs) ?? null;
}

/**
 * The windows of the nights whose window overlaps [fromMs, toMs), before blackouts. The caller has checked the
 * zone and the policy.
 */
export function nightWindows(
  clock: ZoneClock,
  policy: CompiledPolicy,
  fromMs: number,
  toMs: number,
): NightWindow[] {
  // A window opens on its day and lasts at most 24 h, so it ends before the end of the next day; one more day on
  // each side covers clocks that step back across midnight.
  const firstDay = Math.floor(clock.wallTimeAt(fromMs) / DAY_MS) - 3;
  const lastDay = Math.floor(clock.wallTimeAt(toMs - 1) / DAY_MS) + 1;
  const windows: NightWindow[] = [];
  for (let day = firstDay; day <= lastDay; day++) {
    const window = policy.windows[weekdayOfDay(day)];
    if (!window) continue;
    const startWall = day * DAY_MS + window.startMinute * MINUTE_MS;
    const endWall = startWall + window.lengthMinutes * MINUTE_MS;
    const startMs = openingInstant(clock, startWall);
    let endMs = clock.resolveWallTime(endWall, 'earlier').instantMs;
    // Both ends in the same repeated hour: the end is the reading that follows the start.
    if (endMs <= startMs) endMs = clock.resolveWallTime(endWall, 'later').instantMs;
    if (endMs <= startMs) continue; // the whole window was skipped by the clock
    if (endMs <= fromMs || startMs >= toMs) continue;
    windows.push({ day, startMs, endMs });
  }
  return windows;
}

/**
 * The first instant from which the clock reads the start time or later. For a start the clock reads twice that is
 * the second reading, unless the clock falls back exactly to the start time (01:00 on a US fall-back night), when
 * the first reading already qualifies.
 */
function openingInstant(clock: ZoneClock, startWall: number): number {
  const first = clock.resolveWallTime(startWall, 'earlier');
  if (first.kind !== 'repeated') return first.instantMs;
  const second = clock.resolveWallTime(startWall, 'later').instantMs;
  for (const transition of clock.transitionsBetween(first.instantMs + 1, second + 1)) {
    if (transition.atMs + transition.offsetAfterMs < startWall) return second;
  }
  return first.instantMs;
}

/**
 * Cuts windows by blackouts. A window whose night lies in a local-dates blackout is removed whole; a window that
 * an interval blackout overlaps keeps what lies outside it, so it shrinks or splits into pieces.
 */
export function applyBlackouts(
  windows: readonly NightWindow[],
  blackouts: CompiledBlackouts,
): WindowInstance[] {
  const result: WindowInstance[] = [];
  const { intervals, nights } = blackouts;
  let nightIndex = 0;
  let intervalIndex = 0;
  for (const window of windows) {
    while (nightIndex < nights.length && (nights[nightIndex + 1] as number) < window.day) nightIndex += 2;
    if (nightIndex < nights.length && (nights[nightIndex] as number) <= window.day) continue;

    const localDate = formatLocalDate(window.day);
    while (intervalIndex < intervals.length && (intervals[intervalIndex + 1] as number) <= window.startMs) {
      intervalIndex += 2;
    }
    let cursor = window.startMs;
    let clipped = false;
    for (let i = intervalIndex; i < intervals.length; i += 2) {
      const start = intervals[i] as number;
      const end = intervals[i + 1] as number;
      if (start >= window.endMs) break;
      clipped = true;
      if (start > cursor) result.push({ localDate, startMs: cursor, endMs: start, clipped });
      cursor = Math.max(cursor, end);
      if (cursor >= window.endMs) break;
    }
    if (cursor < window.endMs) result.push({ localDate, startMs: cursor, endMs: window.endMs, clipped });
  }
  return result;
}

/** A window as people and work orders read it: UTC and site-local times. */
export interface WindowDescription {
  readonly localDate: string;
  readonly startUtc: string;
  readonly endUtc: string;
  /** `2026-03-07T22:00:00-05:00` */
  readonly startLocal: string;
  readonly endLocal: string;
  readonly minutes: number;
}

export function describeWindow(
  window: Pick<WindowInstance, 'localDate' | 'startMs' | 'endMs'>,
  timeZone: string,
): WindowDescription {
  return {
    localDate: window.localDate,
    startUtc: formatUtc(window.startMs),
    endUtc: formatUtc(window.endMs),
    startLocal: localDateTime(window.startMs, timeZone),
    endLocal: localDateTime(window.endMs, timeZone),
    minutes: (window.endMs - window.startMs) / MINUTE_MS,
  };
}

/** An instant as the site's clock shows it, with the offset in force: `2026-11-01T01:30:00-05:00`. */
export function localDateTime(instant: Instant, timeZone: string): string {
  const ms = toEpochMs(instant);
  const offset = zoneClock(timeZone).offsetAt(ms);
  return formatWallTime(ms + offset, offset);
}
