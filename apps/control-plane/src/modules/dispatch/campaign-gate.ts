/**
 * What the dispatcher decides about a running campaign on each tick, from its jobs' counts alone (pure, so every
 * replica decides the same from the same rows):
 * 1. the abort threshold: once at least `minExecuted` jobs ran (succeeded or failed) since the baseline, a failure
 *    share at or above `failurePercent` pauses the campaign (ABORT_THRESHOLD);
 * 2. the released wave's gate: when every job of it is finished (succeeded, failed or cancelled), its success rate
 *    (succeeded of those that ran; a wave where none ran passes) must reach the wave's `successRatePercent`, else
 *    the campaign pauses (GATE_FAILED); passed, the next wave with jobs is released once the wave's `soakHours`
 *    after its last job finished have gone by;
 * 3. when the last wave with jobs is finished and passed, the campaign is completed.
 * A deferred job (held for an operator, too) is not finished: its wave waits for it.
 */

export interface WaveCounts {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** When the wave's last finished job finished (epoch ms), null when none has. */
  lastFinishedMs: number | null;
}

export interface GateWave {
  successRatePercent: number;
  soakHours?: number;
}

export interface GateInput {
  waves: readonly GateWave[];
  /** Counts by wave index; a wave without jobs may be absent. */
  counts: ReadonlyMap<number, WaveCounts>;
  releasedWave: number;
  abortPolicy: { failurePercent: number; minExecuted: number };
  /** Executed and failed jobs when an operator last resumed an aborted campaign: the threshold counts from there. */
  abortBaseline: { executed: number; failed: number };
  nowMs: number;
}

export type GateDecision =
  | { kind: 'wait'; detail: string }
  | {
      kind: 'pause';
      code: 'ABORT_THRESHOLD';
      detail: string;
      executed: number;
      failed: number;
      failurePercent: number;
    }
  | {
      kind: 'pause';
      code: 'GATE_FAILED';
      detail: string;
      wave: number;
      nextWave: number;
      successRatePercent: number;
      gatePercent: number;
    }
  | { kind: 'release'; wave: number; after: number; successRatePercent: number | null }
  | { kind: 'complete' };

const HOUR_MS = 3_600_000;

/**
 * A wave's gate from its counts, as the dispatcher and the progress view both judge it: `open` while a job of it
 * is unfinished; then `passed` when its success rate (succeeded of those that ran) reaches the gate, or none ran,
 * else `failed`.
 */
export function waveGate(
  counts: Pick<WaveCounts, 'total' | 'succeeded' | 'failed' | 'cancelled'>,
  gatePercent: number,
): { state: 'open' | 'passed' | 'failed'; successRatePercent: number | null; ran: number } {
  const ran = counts.succeeded + counts.failed;
  const successRatePercent = ran === 0 ? null : round((counts.succeeded * 100) / ran);
  if (ran + counts.cancelled < counts.total) return { state: 'open', successRatePercent, ran };
  const passed = successRatePercent === null || successRatePercent >= gatePercent;
  return { state: passed ? 'passed' : 'failed', successRatePercent, ran };
}

export function decideGate(input: GateInput): GateDecision {
  let executed = 0;
  let failed = 0;
  for (const counts of input.counts.values()) {
    executed += counts.succeeded + counts.failed;
    failed += counts.failed;
  }
  const sinceExecuted = executed - input.abortBaseline.executed;
  const sinceFailed = failed - input.abortBaseline.failed;
  if (
    sinceExecuted >= input.abortPolicy.minExecuted &&
    sinceFailed * 100 >= input.abortPolicy.failurePercent * sinceExecuted
  ) {
    const failurePercent = round((sinceFailed * 100) / sinceExecuted);
    return {
      kind: 'pause',
      code: 'ABORT_THRESHOLD',
      detail: `${sinceFailed} of ${sinceExecuted} jobs failed (${failurePercent}%), at or above the abort threshold of ${input.abortPolicy.failurePercent}% after ${input.abortPolicy.minExecuted}`,
      executed: sinceExecuted,
      failed: sinceFailed,
      failurePercent,
    };
  }

  const wave = input.releasedWave;
  const counts = input.counts.get(wave) ?? empty();
  const gatePercent = input.waves[wave]?.successRatePercent ?? 100;
  const { state, successRatePercent, ran } = waveGate(counts, gatePercent);
  if (state === 'open') {
    const open = counts.total - ran - counts.cancelled;
    return { kind: 'wait', detail: `wave ${wave}: ${open} of ${counts.total} jobs open` };
  }
  const nextWave = laterWaveWithJobs(input, wave);
  if (nextWave === null) {
    // No later wave has jobs: nothing left to gate, the campaign is done (the last wave's rate is in its progress).
    return { kind: 'complete' };
  }
  if (state === 'failed' && successRatePercent !== null) {
    return {
      kind: 'pause',
      code: 'GATE_FAILED',
      detail: `wave ${wave} succeeded on ${successRatePercent}% of ${ran} jobs, below its gate of ${gatePercent}%`,
      wave,
      nextWave,
      successRatePercent,
      gatePercent,
    };
  }
  const soakMs = (input.waves[wave]?.soakHours ?? 0) * HOUR_MS;
  if (soakMs > 0 && counts.lastFinishedMs !== null && input.nowMs < counts.lastFinishedMs + soakMs) {
    return {
      kind: 'wait',
      detail: `wave ${wave} soaks until ${new Date(counts.lastFinishedMs + soakMs).toISOString()}`,
    };
  }
  return { kind: 'release', wave: nextWave, after: wave, successRatePercent };
}

function laterWaveWithJobs(input: GateInput, wave: number): number | null {
  let next: number | null = null;
  for (const [index, counts] of input.counts) {
    if (index > wave && counts.total > 0 && (next === null || index < next)) next = index;
  }
  return next;
}

function empty(): WaveCounts {
  return { total: 0, succeeded: 0, failed: 0, cancelled: 0, lastFinishedMs: null };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
