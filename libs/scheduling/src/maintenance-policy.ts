// A site's maintenance policy as plain data, and its checked, compiled form.
import { SchedulingError, SchedulingErrorCode } from './scheduling.error.js';
import { formatClockTime, parseClockTime } from './time.js';

export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
/** Indexed like `Date.prototype.getUTCDay`: 0 = Sunday. */
export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * A nightly window in site-local clock times (`HH:MM`). An end at or before the start is on the next day
 * (22:00–05:00 runs overnight); an end equal to the start means 24 hours.
 */
export interface DailyWindow {
  readonly start: string;
  readonly end: string;
}

export interface MaintenancePolicy {
  /** The window of every night unless its weekday says otherwise. Default 22:00–05:00. */
  readonly window?: DailyWindow;
  /**
   * Overrides by the weekday on which the window opens: a partial window inherits the missing time from
   * `window` (`{ thu: { start: '23:00' } }`), `null` means no window that night.
   */
  readonly weekdays?: Readonly<Partial<Record<Weekday, Partial<DailyWindow> | null>>>;
  /** At most this many jobs run at the same time at the site. Default 1. */
  readonly maxConcurrentJobs?: number;
}

export const DEFAULT_WINDOW: DailyWindow = Object.freeze({ start: '22:00', end: '05:00' });
export const DEFAULT_MAX_CONCURRENT_JOBS = 1;
/** Beyond this a limit is a typo, not a clinic. */
export const MAX_CONCURRENT_JOBS_LIMIT = 1_000;

/** One weekday's window in minutes after local midnight of the day it opens. */
export interface CompiledWindow {
  readonly startMinute: number;
  /** Nominal length (wall-clock minutes; the real length differs by a DST change inside the window). */
  readonly lengthMinutes: number;
}

export interface CompiledPolicy {
  /** By weekday, 0 = Sunday; null where that night has no window. */
  readonly windows: readonly (CompiledWindow | null)[];
  readonly maxConcurrentJobs: number;
  /** Equal for policies with the same windows (the concurrency limit is not part of it). */
  readonly windowKey: string;
  /** The longest nominal window, in minutes (0 when there is none). */
  readonly longestMinutes: number;
}

const compiledCache = new WeakMap<object, CompiledPolicy>();
let defaultCompiled: CompiledPolicy | undefined;

/**
 * Checks and compiles a policy. Throws INVALID_POLICY listing every problem found. Windows of consecutive
 * nights may touch but not overlap (Monday 22:00–05:00 and a Tuesday window opening at 04:00 is refused).
 * A policy is a value: the compiled form is cached per policy object, so change a policy by replacing it.
 */
export function compilePolicy(policy: MaintenancePolicy | undefined): CompiledPolicy {
  if (policy === undefined) return (defaultCompiled ??= compileChecked({}));
  let compiled = compiledCache.get(policy);
  if (!compiled) {
    compiled = compileChecked(policy);
    compiledCache.set(policy, compiled);
  }
  return compiled;
}

/** The problems of a policy, empty when it is valid. */
export function policyProblems(policy: MaintenancePolicy | undefined): string[] {
  try {
    compilePolicy(policy);
    return [];
  } catch (error) {
    if (error instanceof SchedulingError) return (error.details['problems'] as string[] | undefined) ?? [];
    throw error;
  }
}

function compileChecked(policy: MaintenancePolicy): CompiledPolicy {
  const problems: string[] = [];
  if (typeof policy !== 'object' || policy === null) {
    throw new SchedulingError(SchedulingErrorCode.INVALID_POLICY, 'a maintenance policy must be an object', {
      problems: ['policy must be an object'],
    });
  }
  const base = policy.window ?? DEFAULT_WINDOW;
  const baseStart = parseClockTime(base.start);
  const baseEnd = parseClockTime(base.end);
  if (baseStart === undefined) problems.push(`window.start must be HH:MM, got ${JSON.stringify(base.start)}`);
  if (baseEnd === undefined) problems.push(`window.end must be HH:MM, got ${JSON.stringify(base.end)}`);

  const overrides = policy.weekdays ?? {};
  for (const key of Object.keys(overrides)) {
    if (!(WEEKDAYS as readonly string[]).includes(key)) {
      problems.push(`weekdays.${key} is not a weekday (use ${WEEKDAYS.join(', ')})`);
    }
  }

  const windows: (CompiledWindow | null)[] = WEEKDAYS.map((weekday) => {
    const override = overrides[weekday];
    if (override === null) return null;
    const startText = override?.start ?? base.start;
    const endText = override?.end ?? base.end;
    const start = override?.start === undefined ? baseStart : parseClockTime(startText);
    const end = override?.end === undefined ? baseEnd : parseClockTime(endText);
    if (override?.start !== undefined && start === undefined) {
      problems.push(`weekdays.${weekday}.start must be HH:MM, got ${JSON.stringify(override.start)}`);
    }
    if (override?.end !== undefined && end === undefined) {
      problems.push(`weekdays.${weekday}.end must be HH:MM, got ${JSON.stringify(override.end)}`);
    }
    if (start === undefined || end === undefined) return null;
    return { startMinute: start, lengthMinutes: end > start ? end - start : end + 1440 - start };
  });

  if (problems.length === 0) {
    for (let day = 0; day < 7; day++) {
      const current = windows[day];
      const next = windows[(day + 1) % 7];
      if (!current || !next) continue;
      if (current.startMinute + current.lengthMinutes > 1440 + next.startMinute) {
        problems.push(
          `the ${WEEKDAYS[day]} window (${describe(current)}) overlaps the ${WEEKDAYS[(day + 1) % 7]} window (${describe(next)})`,
        );
      }
    }
  }

  const limit = policy.maxConcurrentJobs ?? DEFAULT_MAX_CONCURRENT_JOBS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CONCURRENT_JOBS_LIMIT) {
    problems.push(
      `maxConcurrentJobs must be an integer from 1 to ${MAX_CONCURRENT_JOBS_LIMIT}, got ${limit}`,
    );
  }

  if (problems.length > 0) {
    throw new SchedulingError(
      SchedulingErrorCode.INVALID_POLICY,
      `invalid maintenance policy: ${problems[0]}`,
      {
        problems,
      },
    );
  }
  return {
    windows,
    maxConcurrentJobs: limit,
    windowKey: windows
      .map((window) => (window ? `${window.startMinute}+${window.lengthMinutes}` : '-'))
      .join(','),
    longestMinutes: Math.max(0, ...windows.map((window) => window?.lengthMinutes ?? 0)),
  };
}

function describe(window: CompiledWindow): string {
  return `${formatClockTime(window.startMinute)}–${formatClockTime((window.startMinute + window.lengthMinutes) % 1440)}`;
}
