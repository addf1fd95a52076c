// The planner's inputs and outputs: plain data, times as epoch milliseconds, ready to store as rows.
import type { Blackout } from './blackout.js';
import type { MaintenanceSite } from './maintenance-window.js';
import type { Instant } from './time.js';

export interface PlanSite extends MaintenanceSite {
  readonly id: string;
  /** The blackouts that reach this site (organization, county and its own; see blackoutsForSite). */
  readonly blackouts?: readonly Blackout[];
}

export interface PlanJob {
  /** Unique within the plan. */
  readonly id: string;
  readonly siteId: string;
  /** Device model: its estimated duration comes from the plan's options. */
  readonly model: string;
  /** Wave number; default 0. */
  readonly wave?: number;
  /** This device's own estimate (before margin), overriding its model's. */
  readonly estimatedDurationMs?: number;
}

export interface WaveOptions {
  readonly wave: number;
  /** No job of this wave starts before this instant. */
  readonly notBefore?: Instant;
  /** Time left free after this wave's last planned end before the next wave may start (to judge its success). */
  readonly soakMs?: number;
}

export interface DurationOptions {
  /** Estimated duration of one job by device model, in milliseconds. */
  readonly byModel: Readonly<Record<string, number>>;
  /** Estimate for models not listed; without it such jobs are unplaced (NO_ESTIMATE). */
  readonly defaultMs?: number;
  /** Added as a fraction of the estimate (0.25 = +25 %). Default 0. */
  readonly marginRatio?: number;
  /** Added to every estimate after the ratio. Default 0. */
  readonly marginMs?: number;
}

export interface PlanOptions {
  /** No job starts before this instant (a window already open is used from here on). */
  readonly earliestStart: Instant;
  /** Only windows that open before this instant are used. Default: earliestStart + 28 days. */
  readonly horizonEnd?: Instant;
  readonly durations: DurationOptions;
  /**
   * The waves in the order they run; default: the jobs' wave numbers, ascending. Each wave is planned after the
   * previous wave's last planned end (plus its soak time) everywhere, since the campaign gates a wave on the
   * success of the one before. A job whose wave is not listed is unplaced (UNKNOWN_WAVE).
   */
  readonly waves?: readonly WaveOptions[];
}

/** One placed job: a row for the plan table (see PLANNED_JOB_COLUMNS). */
export interface PlannedJob {
  readonly jobId: string;
  readonly siteId: string;
  readonly wave: number;
  /** The night: site-local date (`YYYY-MM-DD`) on which the window opens. */
  readonly windowLocalDate: string;
  readonly startMs: number;
  /** Start plus the estimate with its margin; never after windowEndMs. */
  readonly endMs: number;
  readonly windowStartMs: number;
  /** End of the window (or window piece): the job's hard deadline. */
  readonly windowEndMs: number;
}

export const UnplacedReason = {
  /** The job names a site that is not in the plan. */
  UNKNOWN_SITE: 'UNKNOWN_SITE',
  /** The site's time zone, policy or blackouts are invalid (the detail says which). */
  INVALID_SITE: 'INVALID_SITE',
  /** The job's wave is not among the plan's waves. */
  UNKNOWN_WAVE: 'UNKNOWN_WAVE',
  /** No estimate for the job's model and no default; or a non-positive one. */
  NO_ESTIMATE: 'NO_ESTIMATE',
  /** The job (with margin) is longer than the site's longest window. */
  LONGER_THAN_WINDOW: 'LONGER_THAN_WINDOW',
  /** No window before the horizon had room for it (full, blacked out, or none). */
  NO_ROOM_BEFORE_HORIZON: 'NO_ROOM_BEFORE_HORIZON',
  /** Rollover: the campaign's catch-up policy holds missed jobs for an operator. */
  HELD_FOR_OPERATOR: 'HELD_FOR_OPERATOR',
  /** Rollover: the job has already been moved as often as the catch-up policy allows. */
  ROLLOVER_LIMIT: 'ROLLOVER_LIMIT',
} as const;
export type UnplacedReason = (typeof UnplacedReason)[keyof typeof UnplacedReason];

/** A job the planner could not place: reported, never dropped. */
export interface UnplacedJob {
  readonly jobId: string;
  readonly siteId: string;
  readonly wave: number;
  readonly reason: UnplacedReason;
  readonly detail: string;
}

export interface WaveSummary {
  readonly wave: number;
  /** No job of the wave starts before this instant. */
  readonly notBeforeMs: number;
  readonly placed: number;
  readonly unplaced: number;
  readonly firstStartMs: number | null;
  readonly lastEndMs: number | null;
}

export interface PatchPlan {
  readonly earliestStartMs: number;
  readonly horizonEndMs: number;
  /** In the order planned: by wave, then in the order the jobs were given. */
  readonly placed: PlannedJob[];
  readonly unplaced: UnplacedJob[];
  readonly waves: WaveSummary[];
}
