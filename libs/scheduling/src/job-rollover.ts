// Moving a job that missed its window, or was deferred in it, to a later slot (the campaign's catch-up policy).
import { compileBlackouts } from './blackout.js';
import { maintenanceWindows, nightWindows, type WindowInstance } from './maintenance-window.js';
import { compilePolicy } from './maintenance-policy.js';
import type { PlannedJob, PlanSite, UnplacedJob } from './patch-plan.types.js';
import { UnplacedReason } from './patch-plan.types.js';
import { DEFAULT_HORIZON_MS } from './patch-planner.js';
import { SchedulingError } from './scheduling.error.js';
import { type Instant, MINUTE_MS, toEpochMs } from './time.js';
import { zoneClock } from './zone-clock.js';

/**
 * What happens to a job that did not run in its window:
 * - `same-window`: a job that missed the start of its window (agent offline at window open, dispatcher late)
 *   catches up in what is left of the window if it still fits whole, else the next window;
 * - `next-window`: it always waits for the next window (the next night);
 * - `hold`: it is not moved; it is reported (HELD_FOR_OPERATOR) for an operator to decide.
 * A deferred job (device in clinical use, window ended while it waited) always moves to the next window, unless
 * the policy holds it.
 */
export type CatchUpMode = 'same-window' | 'next-window' | 'hold';

export interface CatchUpPolicy {
  readonly mode: CatchUpMode;
  /** After this many moves the job is reported (ROLLOVER_LIMIT) instead of moved again. Default: unlimited. */
  readonly maxRollovers?: number;
}

/**
 * `missed`: never started in its window. `deferred`: the agent held it back (device in use, window ended).
 * `held`: the control plane held it back through no fault of its own (its wave not released in time, a blackout
 * declared after it was planned): it takes the earliest slot left (outside blackouts) whatever the catch-up
 * policy, and the move is not counted as a rollover.
 */
export type RolloverCause = 'missed' | 'deferred' | 'held';

/** Another job's time at the site, planned or running. */
export interface BusyInterval {
  readonly startMs: number;
  readonly endMs: number;
}

export interface RolloverJob {
  readonly jobId: string;
  readonly siteId: string;
  readonly wave: number;
  /** The job's slot (estimate with margin): its planned endMs − startMs. */
  readonly durationMs: number;
  /** How often it has been moved already. Default 0. */
  readonly rollovers?: number;
}

export interface RolloverContext {
  readonly site: PlanSite;
  readonly now: Instant;
  readonly catchUp: CatchUpPolicy;
  /** The other jobs of the site (not this one), so the concurrency limit holds. */
  readonly busy?: readonly BusyInterval[];
  /** Not before this instant (the wave's start). */
  readonly notBefore?: Instant;
  /** Only windows opening before this instant are used. Default: now + 28 days. */
  readonly horizonEnd?: Instant;
}

export interface RolloverRequest extends RolloverContext {
  readonly job: RolloverJob;
  readonly cause: RolloverCause;
}

export type RolloverResult =
  | { readonly status: 'placed'; readonly rollovers: number; readonly job: PlannedJob }
  | { readonly status: 'unplaced'; readonly rollovers: number; readonly job: UnplacedJob };

/** Moves one job according to the catch-up policy: a new slot, or the reason it has none. */
export function rolloverJob(request: RolloverRequest): RolloverResult {
  const [result] = rolloverJobs({ ...request, jobs: [{ job: request.job, cause: request.cause }] });
  return result as RolloverResult;
}

/**
 * Moves several jobs of one site, in the order given (deterministic): each sees the slots taken by the ones before
 * it as busy.
 */
export function rolloverJobs(
  request: RolloverContext & { readonly jobs: readonly { job: RolloverJob; cause: RolloverCause }[] },
): RolloverResult[] {
  const { site, catchUp } = request;
  const nowMs = toEpochMs(request.now, 'now');
  const notBeforeMs = request.notBefore === undefined ? nowMs : Math.max(nowMs, toEpochMs(request.notBefore));
  const horizonEndMs =
    request.horizonEnd === undefined
      ? nowMs + DEFAULT_HORIZON_MS
      : toEpochMs(request.horizonEnd, 'horizonEnd');
  const busy: BusyInterval[] = [...(request.busy ?? [])];

  let windows: WindowInstance[] = [];
  let currentNightEndMs = nowMs;
  let limit = 1;
  let longestMs = 0;
  let siteError: string | null = null;
  try {
    const policy = compilePolicy(site.policy);
    compileBlackouts(site.blackouts);
    limit = policy.maxConcurrentJobs;
    longestMs = policy.longestMinutes * MINUTE_MS;
    const tonight = nightWindows(zoneClock(site.timeZone), policy, nowMs, nowMs + 1).find(
      (night) => night.startMs <= nowMs && nowMs < night.endMs,
    );
    if (tonight) currentNightEndMs = tonight.endMs;
    if (horizonEndMs > notBeforeMs) {
      windows = maintenanceWindows(site, { from: notBeforeMs, to: horizonEndMs }, site.blackouts);
    }
  } catch (error) {
    if (!(error instanceof SchedulingError)) throw error;
    siteError = error.message;
  }

  return request.jobs.map(({ job, cause }) => {
    const rollovers = job.rollovers ?? 0;
    const unplaced = (reason: UnplacedReason, detail: string): RolloverResult => ({
      status: 'unplaced',
      rollovers,
      job: { jobId: job.jobId, siteId: job.siteId, wave: job.wave, reason, detail },
    });
    if (siteError !== null) return unplaced(UnplacedReason.INVALID_SITE, siteError);
    const counted = cause !== 'held';
    if (counted && catchUp.mode === 'hold') {
      return unplaced(UnplacedReason.HELD_FOR_OPERATOR, `the campaign holds ${cause} jobs for an operator`);
    }
    if (counted && catchUp.maxRollovers !== undefined && rollovers >= catchUp.maxRollovers) {
      return unplaced(UnplacedReason.ROLLOVER_LIMIT, `moved ${rollovers} times already`);
    }
    // A held job takes the earliest slot left, tonight after a short blackout too.
    const sameWindow = (catchUp.mode === 'same-window' && cause === 'missed') || cause === 'held';
    const fromMs = sameWindow ? notBeforeMs : Math.max(notBeforeMs, currentNightEndMs);
    const slot = earliestSlot(windows, fromMs, job.durationMs, busy, limit);
    if (!slot) {
      const minutes = Math.ceil(job.durationMs / MINUTE_MS);
      return job.durationMs > longestMs
        ? unplaced(
            UnplacedReason.LONGER_THAN_WINDOW,
            `the job needs ${minutes} min; the longest window is shorter`,
          )
        : unplaced(
            UnplacedReason.NO_ROOM_BEFORE_HORIZON,
            `no window before the horizon had ${minutes} free minutes`,
          );
    }
    busy.push({ startMs: slot.startMs, endMs: slot.startMs + job.durationMs });
    return {
      status: 'placed',
      rollovers: counted ? rollovers + 1 : rollovers,
      job: {
        jobId: job.jobId,
        siteId: job.siteId,
        wave: job.wave,
        windowLocalDate: slot.window.localDate,
        startMs: slot.startMs,
        endMs: slot.startMs + job.durationMs,
        windowStartMs: slot.window.startMs,
        windowEndMs: slot.window.endMs,
      },
    };
  });
}

/**
 * The earliest start ≥ fromMs at which a job of durationMs fits whole inside one window while fewer than `limit`
 * busy intervals overlap it at every instant. The answer is always fromMs, a window start or the end of a busy
 * interval, so only those are tried.
 */
export function earliestSlot(
  windows: readonly WindowInstance[],
  fromMs: number,
  durationMs: number,
  busy: readonly BusyInterval[],
  limit: number,
): { window: WindowInstance; startMs: number } | null {
  for (const window of windows) {
    const opens = Math.max(window.startMs, fromMs);
    const latest = window.endMs - durationMs;
    if (opens > latest) continue;
    const candidates = [opens];
    for (const interval of busy) {
      if (interval.endMs > opens && interval.endMs <= latest) candidates.push(interval.endMs);
    }
    candidates.sort((a, b) => a - b);
    for (const startMs of candidates) {
      if (peakOverlap(busy, startMs, startMs + durationMs) < limit) return { window, startMs };
    }
  }
  return null;
}

/** The most busy intervals overlapping at any one instant of [startMs, endMs). */
function peakOverlap(busy: readonly BusyInterval[], startMs: number, endMs: number): number {
  let peak = 0;
  const points = [startMs];
  for (const interval of busy)
    if (interval.startMs > startMs && interval.startMs < endMs) points.push(interval.startMs);
  for (const point of points) {
    let count = 0;
    for (const interval of busy) if (interval.startMs <= point && point < interval.endMs) count++;
    if (count > peak) peak = count;
  }
  return peak;
}
