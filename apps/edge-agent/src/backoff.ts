/**
 * Reconnect delays: exponential backoff with FULL jitter (the delay is drawn uniformly between zero and the
 * exponential ceiling), as in AWS's "Exponential Backoff and Jitter". After a county-wide power cut a
 * thousand agents lose the broker at the same instant; with a fixed or merely "equal" jitter they would
 * come back in waves, while full jitter spreads their attempts evenly over the whole ceiling, so the
 * broker sees a steady trickle of connections instead of a stampede.
 */

export interface BackoffOptions {
  /** Ceiling of the first attempt's delay. */
  minMs: number;
  /** Largest ceiling: once reached, attempts are spread uniformly over [0, maxMs]. */
  maxMs: number;
}

/** The exponential ceiling before attempt `attempt` (1 for the first retry): minMs, 2·minMs, 4·minMs… ≤ maxMs. */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  return Math.max(1, Math.min(options.maxMs, options.minMs * 2 ** exponent));
}

/**
 * The delay before attempt `attempt`: uniform in [1, ceiling] ms. Never 0, because mqtt.js reads a
 * `reconnectPeriod` of 0 as "do not reconnect".
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = backoffCeiling(attempt, options);
  return Math.min(ceiling, Math.max(1, Math.floor(random() * ceiling) + 1));
}
