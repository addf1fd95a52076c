// The planner against a brute-force oracle: replaying the jobs in planning order, each must start at the earliest
// instant any valid slot existed given the jobs placed before it, and the plan must keep every rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Blackout } from './blackout.js';
import { maintenanceWindows, type WindowInstance } from './maintenance-window.js';
import type { MaintenancePolicy } from './maintenance-policy.js';
import type { PatchPlan, PlanJob, PlanOptions, PlanSite } from './patch-plan.types.js';
import { planPatchJobs } from './patch-planner.js';
import { DAY_MS, MINUTE_MS } from './time.js';

const ZONES = [
  'America/New_York',
  'America/Chicago',
  'America/Los_Angeles',
  'America/Phoenix',
  'Europe/London',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Asia/Kolkata',
];
const MODELS: Record<string, number> = {
  tiny: 10 * MINUTE_MS,
  pump: 45 * MINUTE_MS,
  ct: 150 * MINUTE_MS,
  mri: 330 * MINUTE_MS,
};

interface Scenario {
  sites: PlanSite[];
  jobs: PlanJob[];
  options: PlanOptions;
}

const policyArbitrary: fc.Arbitrary<MaintenancePolicy> = fc.record({
  window: fc.constantFrom(
    { start: '22:00', end: '05:00' },
    { start: '20:30', end: '02:00' },
    { start: '01:00', end: '04:15' },
  ),
  weekdays: fc.constantFrom({}, { thu: { start: '23:00' } }, { sun: null }, { sat: null, sun: null }),
  maxConcurrentJobs: fc.integer({ min: 1, max: 3 }),
});

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc
  .record({
    startMs: fc
      .integer({ min: Date.UTC(1995, 0, 1), max: Date.UTC(2055, 0, 1) })
      .map((ms) => ms - (ms % MINUTE_MS)),
    horizonDays: fc.integer({ min: 2, max: 9 }),
    sites: fc.array(
      fc.record({
        timeZone: fc.constantFrom(...ZONES),
        policy: policyArbitrary,
        blackout: fc.option(
          fc.record({
            offsetHours: fc.integer({ min: 0, max: 200 }),
            lengthHours: fc.integer({ min: 1, max: 30 }),
          }),
        ),
        nightOff: fc.option(fc.integer({ min: 0, max: 8 })),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    jobs: fc.array(
      fc.record({
        site: fc.integer({ min: 0, max: 4 }),
        model: fc.constantFrom(...Object.keys(MODELS)),
        wave: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 30 },
    ),
    soakMinutes: fc.integer({ min: 0, max: 180 }),
    marginRatio: fc.constantFrom(0, 0.1, 0.25),
  })
  .map(({ startMs, horizonDays, sites, jobs, soakMinutes, marginRatio }) => ({
    sites: sites.map((site, index): PlanSite => {
      const blackouts: Blackout[] = [];
      if (site.blackout) {
        const start = startMs + site.blackout.offsetHours * 3_600_000;
        blackouts.push({
          kind: 'interval',
          id: 'b',
          start,
          end: start + site.blackout.lengthHours * 3_600_000,
        });
      }
      if (site.nightOff !== null) {
        const date = new Date(startMs + site.nightOff * DAY_MS).toISOString().slice(0, 10);
        blackouts.push({ kind: 'local-dates', id: 'n', firstDate: date, lastDate: date });
      }
      return { id: `s${index}`, timeZone: site.timeZone, policy: site.policy, blackouts };
    }),
    jobs: jobs.map((job, index) => ({
      id: `j${index}`,
      siteId: `s${job.site}`,
      model: job.model,
      wave: job.wave,
    })),
    options: {
      earliestStart: startMs,
      horizonEnd: startMs + horizonDays * DAY_MS,
      durations: { byModel: MODELS, marginRatio },
      waves: [0, 1, 2].map((wave) => ({ wave, soakMs: soakMinutes * MINUTE_MS })),
    },
  }));

/** Earliest feasible start by brute force: try every instant at which a slot can begin. */
function oracleStart(
  windows: readonly WindowInstance[],
  notBefore: number,
  duration: number,
  taken: readonly { startMs: number; endMs: number }[],
  limit: number,
): number | null {
  const candidates = new Set<number>([notBefore]);
  for (const window of windows) candidates.add(window.startMs);
  for (const slot of taken) candidates.add(slot.endMs);
  const sorted = [...candidates].filter((start) => start >= notBefore).sort((a, b) => a - b);
  for (const start of sorted) {
    const end = start + duration;
    if (!windows.some((window) => window.startMs <= start && end <= window.endMs)) continue;
    // The number running is highest at the start or where another job starts.
    const points = [
      start,
      ...taken.map((slot) => slot.startMs).filter((point) => point > start && point < end),
    ];
    const crowded = points.some(
      (point) => taken.filter((slot) => slot.startMs <= point && point < slot.endMs).length >= limit,
    );
    if (!crowded) return start;
  }
  return null;
}

function checkPlan({ sites, jobs, options }: Scenario, plan: PatchPlan): void {
  // Every job exactly once.
  const seen = [...plan.placed.map((job) => job.jobId), ...plan.unplaced.map((job) => job.jobId)].sort();
  expect(seen).toEqual(jobs.map((job) => job.id).sort());

  const siteById = new Map(sites.map((site) => [site.id, site]));
  const windowsOf = new Map(
    sites.map((site) => {
      try {
        const range = { from: options.earliestStart, to: options.horizonEnd as number };
        return [site.id, maintenanceWindows(site, range, site.blackouts)];
      } catch {
        return [site.id, null]; // an invalid policy: its jobs must be reported, not planned
      }
    }),
  );
  const unplacedById = new Map(plan.unplaced.map((job) => [job.jobId, job]));
  const placedById = new Map(plan.placed.map((job) => [job.jobId, job]));
  const taken = new Map<string, { startMs: number; endMs: number }[]>();
  const ratio = 1 + (options.durations.marginRatio ?? 0);
  let barrier = options.earliestStart as number;
  for (const wave of [0, 1, 2]) {
    let lastEnd = Number.NEGATIVE_INFINITY;
    for (const job of jobs.filter((candidate) => (candidate.wave ?? 0) === wave)) {
      const site = siteById.get(job.siteId);
      const row = placedById.get(job.id);
      if (!site || !windowsOf.get(site.id)) {
        expect(row).toBeUndefined();
        expect(unplacedById.get(job.id)?.reason).toBe(site ? 'INVALID_SITE' : 'UNKNOWN_SITE');
        continue;
      }
      const duration = Math.ceil(((MODELS[job.model] as number) * ratio) / 1000) * 1000;
      const siteTaken = taken.get(site.id) ?? [];
      const limit = site.policy?.maxConcurrentJobs ?? 1;
      const expected = oracleStart(windowsOf.get(site.id) ?? [], barrier, duration, siteTaken, limit);
      expect(row?.startMs ?? null, `job ${job.id}`).toBe(expected);
      if (!row) continue;
      expect(row.endMs - row.startMs).toBe(duration);
      expect(row.startMs).toBeGreaterThanOrEqual(row.windowStartMs);
      expect(row.endMs).toBeLessThanOrEqual(row.windowEndMs);
      expect(
        windowsOf.get(site.id)?.some((w) => w.startMs === row.windowStartMs && w.endMs === row.windowEndMs),
      ).toBe(true);
      siteTaken.push({ startMs: row.startMs, endMs: row.endMs });
      taken.set(site.id, siteTaken);
      lastEnd = Math.max(lastEnd, row.endMs);
    }
    if (lastEnd > Number.NEGATIVE_INFINITY)
      barrier = Math.max(barrier, lastEnd + (options.waves?.[wave]?.soakMs ?? 0));
  }
}

describe('planPatchJobs (property-based)', () => {
  it('places every job at the earliest valid start, within windows, limits and wave order', () => {
    fc.assert(
      fc.property(scenarioArbitrary, (scenario) => {
        const plan = planPatchJobs(scenario.sites, scenario.jobs, scenario.options);
        checkPlan(scenario, plan);
        // Deterministic, and independent of the order of the sites.
        expect(planPatchJobs([...scenario.sites].reverse(), scenario.jobs, scenario.options)).toEqual(plan);
      }),
      { numRuns: 250 },
    );
  });
});
