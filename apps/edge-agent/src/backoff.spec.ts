import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay } from './backoff.js';

/** A seeded generator (mulberry32), so the distribution checks are repeatable. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const options = { minMs: 1_000, maxMs: 60_000 };

describe('reconnect backoff', () => {
  it('doubles the ceiling with each attempt up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50, 10_000].map((attempt) => backoffCeiling(attempt, options))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000,
    ]);
    expect(backoffCeiling(0, options)).toBe(1_000);
    expect(backoffCeiling(1, { minMs: 0, maxMs: 0 })).toBe(1);
  });

  it('never returns 0 (mqtt.js would stop reconnecting) and never exceeds the ceiling', () => {
    for (const attempt of [1, 3, 9]) {
      const ceiling = backoffCeiling(attempt, options);
      expect(backoffDelay(attempt, options, () => 0)).toBe(1);
      expect(backoffDelay(attempt, options, () => 0.999_999_999)).toBe(ceiling);
    }
  });

  it.each([1, 4, 12])('draws delays uniformly over [0, ceiling] (full jitter), attempt %i', (attempt) => {
    const random = seeded(attempt * 7919);
    const ceiling = backoffCeiling(attempt, options);
    const samples = Array.from({ length: 20_000 }, () => backoffDelay(attempt, options, random));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...samples)).toBeLessThanOrEqual(ceiling);
    // Full jitter, not "equal jitter" (which would keep every delay above ceiling / 2).
    expect(samples.filter((delay) => delay < ceiling / 2).length / samples.length).toBeCloseTo(0.5, 1);
    const mean = samples.reduce((sum, delay) => sum + delay, 0) / samples.length;
    expect(Math.abs(mean - ceiling / 2) / ceiling).toBeLessThan(0.01);
    // Each tenth of the range gets its tenth of the delays (within 1.5 points): uniform.
    const deciles = new Array<number>(10).fill(0);
    for (const delay of samples) {
      const decile = Math.min(9, Math.floor((delay / ceiling) * 10));
      deciles[decile] = (deciles[decile] ?? 0) + 1;
    }
    for (const count of deciles) expect(Math.abs(count / samples.length - 0.1)).toBeLessThan(0.015);
  });

  it('spreads a thousand agents coming back after a county-wide power cut instead of stampeding the broker', () => {
    // The broker is down for 10 minutes; every agent lost it at the same instant and retries on its own
    // schedule (connect attempts fail at once while it is down). Count the attempts per second after it is up.
    const random = seeded(2024);
    const outageMs = 10 * 60_000;
    const attemptsBySecond = new Map<number, number>();
    for (let agent = 0; agent < 1_000; agent += 1) {
      let now = 0;
      for (let attempt = 1; ; attempt += 1) {
        now += backoffDelay(attempt, options, random);
        if (now >= outageMs) {
          const second = Math.floor((now - outageMs) / 1_000);
          attemptsBySecond.set(second, (attemptsBySecond.get(second) ?? 0) + 1);
          break;
        }
      }
    }
    const busiest = Math.max(...attemptsBySecond.values());
    const lastSecond = Math.max(...attemptsBySecond.keys());
    // Every ceiling has reached 60 s by then, so the broker sees the thousand agents over a whole minute:
    // ~33 connects in the first second (a wait caught mid-way is more likely a long one), tapering to zero,
    // never more than 5% of the fleet in any second. Without jitter all 1000 would land in the same instant.
    expect(lastSecond).toBeGreaterThanOrEqual(55);
    expect(lastSecond).toBeLessThan(60);
    expect(busiest).toBeLessThanOrEqual(50);
    const firstTenSeconds = [...attemptsBySecond].filter(([second]) => second < 10);
    const early = firstTenSeconds.reduce((sum, [, count]) => sum + count, 0);
    // 1 - (5/6)² ≈ 31% of the fleet in the first ten seconds, the rest later.
    expect(early).toBeGreaterThan(250);
    expect(early).toBeLessThan(370);
  });
});
