// The patch planner: places each job into the earliest window of its site where it fits whole.
//
// Greedy and deterministic. Waves run in order; inside a wave, jobs are taken in the order given (the caller's
// priority) and each takes the earliest start at which it fits: inside one window (or window piece left by a
// blackout), after the wave's start, with fewer than the site's concurrency limit running. A site keeps one
// "lane" per allowed concurrent job in each window; a job goes to the lane that frees up first, so no more than
// the limit ever run at once. Windows are computed once per (zone, policy windows, blackouts) combination and
// shared by the sites that have it.
import { type CompiledBlackouts, compileBlackouts } from './blackout.js';
import { applyBlackouts, nightWindows, type NightWindow } from './maintenance-window.js';
import { compilePolicy, type CompiledPolicy } from './maintenance-policy.js';
import {
  type PatchPlan,
  type PlanJob,
  type PlannedJob,
  type PlanOptions,
  type PlanSite,
  type UnplacedJob,
  UnplacedReason,
  type WaveSummary,
} from './patch-plan.types.js';
import { SchedulingError, SchedulingErrorCode } from './scheduling.error.js';
import { DAY_MS, MINUTE_MS, SECOND_MS, toEpochMs } from './time.js';
import { zoneClock } from './zone-clock.js';

export const DEFAULT_HORIZON_MS = 28 * DAY_MS;

/** The usable windows of a site over the plan's span, as parallel arrays. */
interface WindowSet {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly dates: readonly string[];
}

interface SiteState {
  readonly site: PlanSite;
  readonly error: string | null;
  readonly windows: WindowSet;
  readonly limit: number;
  readonly longestNominalMs: number;
  /** Per window, the instant each lane is free from; created when the window is first used. */
  readonly lanes: (Float64Array | undefined)[];
  /** Windows before this index are of no use to any remaining job of the site. */
  scanFrom: number;
  /** The shortest job of the site, to tell when a window is full for good. */
  shortestJobMs: number;
}

interface ResolvedJob {
  readonly job: PlanJob;
  readonly wave: number;
  readonly state: SiteState;
  readonly durationMs: number;
}

/**
 * Plans jobs into their sites' maintenance windows. Throws SchedulingError (INVALID_PLAN_OPTIONS, INVALID_INSTANT)
 * for unusable options or duplicate site ids; a problem of one site or job only unplaces the jobs concerned.
 */
export function planPatchJobs(
  sites: readonly PlanSite[],
  jobs: readonly PlanJob[],
  options: PlanOptions,
): PatchPlan {
  const earliestStartMs = toEpochMs(options.earliestStart, 'earliestStart');
  const horizonEndMs =
    options.horizonEnd === undefined
      ? earliestStartMs + DEFAULT_HORIZON_MS
      : toEpochMs(options.horizonEnd, 'horizonEnd');
  if (!(horizonEndMs > earliestStartMs)) throw invalidOptions('horizonEnd must be after earliestStart');
  const slotOf = slotCalculator(options);
  const waveOrder = waveOrderOf(options, jobs);

  const statesById = new Map<string, SiteState | null>();
  const siteById = new Map<string, PlanSite>();
  for (const site of sites) {
    if (siteById.has(site.id)) throw invalidOptions(`site ${site.id} is listed twice`, { siteId: site.id });
    siteById.set(site.id, site);
  }
  const windowCache = new WindowCache(earliestStartMs, horizonEndMs);
  const stateOf = (siteId: string): SiteState | null => {
    let state = statesById.get(siteId);
    if (state === undefined) {
      const site = siteById.get(siteId);
      state = site ? windowCache.siteState(site) : null;
      statesById.set(siteId, state);
    }
    return state;
  };

  const unplaced: UnplacedJob[] = [];
  const byWave: ResolvedJob[][] = waveOrder.map(() => []);
  const rankOf = new Map(waveOrder.map((wave, rank) => [wave.wave, rank]));
  const refusedByWave = new Map<number, number>();
  for (const job of jobs) {
    const wave = job.wave ?? 0;
    const state = stateOf(job.siteId);
    const refuse = (reason: UnplacedReason, detail: string) => {
      unplaced.push({ jobId: job.id, siteId: job.siteId, wave, reason, detail });
      refusedByWave.set(wave, (refusedByWave.get(wave) ?? 0) + 1);
    };
    if (!state) {
      refuse(UnplacedReason.UNKNOWN_SITE, `site ${job.siteId} is not in the plan`);
      continue;
    }
    if (state.error !== null) {
      refuse(UnplacedReason.INVALID_SITE, state.error);
      continue;
    }
    const rank = rankOf.get(wave);
    if (rank === undefined) {
      refuse(UnplacedReason.UNKNOWN_WAVE, `wave ${wave} is not among the plan's waves`);
      continue;
    }
    const durationMs = slotOf(job);
    if (typeof durationMs === 'string') {
      refuse(UnplacedReason.NO_ESTIMATE, durationMs);
      continue;
    }
    if (durationMs < state.shortestJobMs) state.shortestJobMs = durationMs;
    (byWave[rank] as ResolvedJob[]).push({ job, wave, state, durationMs });
  }

  const placed: PlannedJob[] = [];
  const waves: WaveSummary[] = [];
  let barrierMs = earliestStartMs;
  for (let rank = 0; rank < waveOrder.length; rank++) {
    const wave = waveOrder[rank] as ResolvedWave;
    barrierMs = Math.max(barrierMs, wave.notBeforeMs);
    let firstStartMs = Number.POSITIVE_INFINITY;
    let lastEndMs = Number.NEGATIVE_INFINITY;
    let placedCount = 0;
    let unplacedCount = 0;
    for (const { job, state, durationMs } of byWave[rank] as ResolvedJob[]) {
      const row = place(state, job, wave.wave, durationMs, barrierMs);
      if (row) {
        placed.push(row);
        placedCount++;
        if (row.startMs < firstStartMs) firstStartMs = row.startMs;
        if (row.endMs > lastEndMs) lastEndMs = row.endMs;
      } else {
        unplacedCount++;
        unplaced.push(unplacedBeyondHorizon(job, wave.wave, durationMs, state));
      }
    }
    waves.push({
      wave: wave.wave,
      notBeforeMs: barrierMs,
      placed: placedCount,
      unplaced: unplacedCount + (refusedByWave.get(wave.wave) ?? 0),
      firstStartMs: placedCount ? firstStartMs : null,
      lastEndMs: placedCount ? lastEndMs : null,
    });
    if (placedCount) barrierMs = Math.max(barrierMs, lastEndMs + wave.soakMs);
  }
  return { earliestStartMs, horizonEndMs, placed, unplaced, waves };
}

/** Places one job at the earliest start it fits; updates the site's lanes. */
function place(
  state: SiteState,
  job: PlanJob,
  wave: number,
  durationMs: number,
  barrierMs: number,
): PlannedJob | null {
  const { starts, ends, dates } = state.windows;
  const count = starts.length;
  for (let index = state.scanFrom; index < count; index++) {
    const windowStart = starts[index] as number;
    const windowEnd = ends[index] as number;
    if (windowEnd <= barrierMs) {
      // Waves only move forward: a window that ended before this wave's start is of no use to any later job.
      if (index === state.scanFrom) state.scanFrom++;
      continue;
    }
    const opens = windowStart > barrierMs ? windowStart : barrierMs;
    if (windowEnd - opens < durationMs) continue;
    let lanes = state.lanes[index];
    if (!lanes) {
      lanes = new Float64Array(state.limit).fill(windowStart);
      state.lanes[index] = lanes;
    }
    let lane = 0;
    let free = lanes[0] as number;
    for (let other = 1; other < lanes.length; other++) {
      if ((lanes[other] as number) < free) {
        free = lanes[other] as number;
        lane = other;
      }
    }
    const startMs = free > opens ? free : opens;
    if (startMs + durationMs > windowEnd) {
      // Lanes only fill up and wave starts only move forward: if the site's shortest job cannot fit now, none will.
      if (startMs + state.shortestJobMs > windowEnd && index === state.scanFrom) state.scanFrom++;
      continue;
    }
    lanes[lane] = startMs + durationMs;
    return {
      jobId: job.id,
      siteId: job.siteId,
      wave,
      windowLocalDate: dates[index] as string,
      startMs,
      endMs: startMs + durationMs,
      windowStartMs: windowStart,
      windowEndMs: windowEnd,
    };
  }
  return null;
}

function unplacedBeyondHorizon(
  job: PlanJob,
  wave: number,
  durationMs: number,
  state: SiteState,
): UnplacedJob {
  const minutes = Math.ceil(durationMs / MINUTE_MS);
  if (durationMs > state.longestNominalMs) {
    return {
      jobId: job.id,
      siteId: job.siteId,
      wave,
      reason: UnplacedReason.LONGER_THAN_WINDOW,
      detail: `the job needs ${minutes} min; the site's longest window is ${state.longestNominalMs / MINUTE_MS} min`,
    };
  }
  return {
    jobId: job.id,
    siteId: job.siteId,
    wave,
    reason: UnplacedReason.NO_ROOM_BEFORE_HORIZON,
    detail:
      state.windows.starts.length === 0
        ? 'the site has no window before the horizon (policy or blackouts)'
        : `no window before the horizon had ${minutes} free minutes`,
  };
}

interface ResolvedWave {
  readonly wave: number;
  readonly notBeforeMs: number;
  readonly soakMs: number;
}

function waveOrderOf(options: PlanOptions, jobs: readonly PlanJob[]): ResolvedWave[] {
  if (!options.waves) {
    const numbers = new Set<number>();
    for (const job of jobs) numbers.add(job.wave ?? 0);
    return [...numbers].sort((a, b) => a - b).map((wave) => ({ wave, notBeforeMs: -Infinity, soakMs: 0 }));
  }
  const seen = new Set<number>();
  return options.waves.map((wave) => {
    if (!Number.isFinite(wave.wave)) throw invalidOptions('a wave number must be a number');
    if (seen.has(wave.wave)) throw invalidOptions(`wave ${wave.wave} is listed twice`);
    seen.add(wave.wave);
    const soakMs = wave.soakMs ?? 0;
    if (!(soakMs >= 0) || !Number.isFinite(soakMs))
      throw invalidOptions(`wave ${wave.wave}: soakMs must be ≥ 0`);
    return {
      wave: wave.wave,
      notBeforeMs: wave.notBefore === undefined ? -Infinity : toEpochMs(wave.notBefore, 'notBefore'),
      soakMs,
    };
  });
}

/** The slot a job needs (estimate with margin, whole seconds), or why it has none. */
export function slotCalculator(options: Pick<PlanOptions, 'durations'>): (job: PlanJob) => number | string {
  const { byModel, defaultMs, marginRatio = 0, marginMs = 0 } = options.durations;
  if (!(marginRatio >= 0) || !Number.isFinite(marginRatio)) throw invalidOptions('marginRatio must be ≥ 0');
  if (!(marginMs >= 0) || !Number.isFinite(marginMs)) throw invalidOptions('marginMs must be ≥ 0');
  if (defaultMs !== undefined && !(defaultMs > 0 && Number.isFinite(defaultMs))) {
    throw invalidOptions('defaultMs must be a positive number of milliseconds');
  }
  const estimates = new Map<string, number>(Object.entries(byModel));
  const factor = 1 + marginRatio;
  return (job) => {
    const estimate = job.estimatedDurationMs ?? estimates.get(job.model) ?? defaultMs;
    if (estimate === undefined) return `no estimated duration for model ${job.model}`;
    if (!(estimate > 0) || !Number.isFinite(estimate)) {
      return `the estimated duration of model ${job.model} must be a positive number of milliseconds`;
    }
    return Math.ceil((estimate * factor + marginMs) / SECOND_MS) * SECOND_MS;
  };
}

/** Window sets shared by sites with the same zone, policy windows and blackouts. */
class WindowCache {
  private readonly nights = new Map<string, NightWindow[]>();
  private readonly sets = new Map<string, WindowSet>();
  private static readonly EMPTY: WindowSet = {
    starts: new Float64Array(0),
    ends: new Float64Array(0),
    dates: [],
  };

  constructor(
    private readonly fromMs: number,
    private readonly toMs: number,
  ) {}

  siteState(site: PlanSite): SiteState {
    let policy: CompiledPolicy;
    let blackouts: CompiledBlackouts;
    let windows: WindowSet;
    try {
      policy = compilePolicy(site.policy);
      blackouts = compileBlackouts(site.blackouts);
      windows = this.windowSet(site.timeZone, policy, blackouts);
    } catch (error) {
      if (!(error instanceof SchedulingError)) throw error;
      return {
        site,
        error: error.message,
        windows: WindowCache.EMPTY,
        limit: 1,
        longestNominalMs: 0,
        lanes: [],
        scanFrom: 0,
        shortestJobMs: Number.POSITIVE_INFINITY,
      };
    }
    return {
      site,
      error: null,
      windows,
      limit: policy.maxConcurrentJobs,
      longestNominalMs: policy.longestMinutes * MINUTE_MS,
      lanes: new Array<Float64Array | undefined>(windows.starts.length),
      scanFrom: 0,
      shortestJobMs: Number.POSITIVE_INFINITY,
    };
  }

  private windowSet(timeZone: string, policy: CompiledPolicy, blackouts: CompiledBlackouts): WindowSet {
    const nightKey = `${timeZone}|${policy.windowKey}`;
    const key = blackouts.empty
      ? nightKey
      : `${nightKey}|${blackouts.intervals.join(',')}|${blackouts.nights.join(',')}`;
    let set = this.sets.get(key);
    if (set) return set;
    let nights = this.nights.get(nightKey);
    if (!nights) {
      nights = nightWindows(zoneClock(timeZone), policy, this.fromMs, this.toMs);
      this.nights.set(nightKey, nights);
    }
    const pieces = applyBlackouts(nights, blackouts).filter(
      (piece) => piece.endMs > this.fromMs && piece.startMs < this.toMs,
    );
    set = {
      starts: Float64Array.from(pieces, (piece) => piece.startMs),
      ends: Float64Array.from(pieces, (piece) => piece.endMs),
      dates: pieces.map((piece) => piece.localDate),
    };
    this.sets.set(key, set);
    return set;
  }
}

function invalidOptions(message: string, details: Record<string, unknown> = {}): SchedulingError {
  return new SchedulingError(SchedulingErrorCode.INVALID_PLAN_OPTIONS, message, details);
}
