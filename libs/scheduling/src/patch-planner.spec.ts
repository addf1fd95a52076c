import { describe, expect, it } from 'vitest';
import type { PlanJob, PlanOptions, PlanSite } from './patch-plan.types.js';
import { planPatchJobs } from './patch-planner.js';
import { HOUR_MS, MINUTE_MS } from './time.js';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const NY: PlanSite = { id: 'ny', timeZone: 'America/New_York' };
const options = (extra: Partial<PlanOptions> = {}): PlanOptions => ({
  earliestStart: '2026-01-05T12:00:00Z',
  durations: { byModel: { h1: HOUR_MS, h2: 2 * HOUR_MS, h3: 3 * HOUR_MS, h4: 4 * HOUR_MS, h6: 6 * HOUR_MS } },
  ...extra,
});
const jobsOf = (siteId: string, models: string[], wave = 0): PlanJob[] =>
  models.map((model, index) => ({ id: `${siteId}-${wave}-${index}`, siteId, model, wave }));
const times = (plan: ReturnType<typeof planPatchJobs>) =>
  plan.placed.map((job) => [job.jobId, iso(job.startMs), iso(job.endMs)]);

describe('planPatchJobs', () => {
  it('fills a night up to the concurrency limit, then the next night', () => {
    const plan = planPatchJobs(
      [{ ...NY, policy: { maxConcurrentJobs: 2 } }],
      jobsOf('ny', Array(5).fill('h3')),
      options(),
    );
    // 5 January, 22:00–05:00 EST is 03:00–10:00 UTC on 6 January.
    expect(times(plan)).toEqual([
      ['ny-0-0', '2026-01-06T03:00:00Z', '2026-01-06T06:00:00Z'],
      ['ny-0-1', '2026-01-06T03:00:00Z', '2026-01-06T06:00:00Z'],
      ['ny-0-2', '2026-01-06T06:00:00Z', '2026-01-06T09:00:00Z'],
      ['ny-0-3', '2026-01-06T06:00:00Z', '2026-01-06T09:00:00Z'],
      ['ny-0-4', '2026-01-07T03:00:00Z', '2026-01-07T06:00:00Z'],
    ]);
    expect(plan.placed[4]).toMatchObject({
      windowLocalDate: '2026-01-06',
      windowStartMs: Date.parse('2026-01-07T03:00:00Z'),
      windowEndMs: Date.parse('2026-01-07T10:00:00Z'),
    });
    expect(plan.unplaced).toEqual([]);
  });

  it('places a short job in the earliest window it fits, even after a longer one moved on', () => {
    const plan = planPatchJobs([NY], jobsOf('ny', ['h4', 'h2', 'h3', 'h1']), options());
    expect(times(plan)).toEqual([
      ['ny-0-0', '2026-01-06T03:00:00Z', '2026-01-06T07:00:00Z'],
      ['ny-0-1', '2026-01-06T07:00:00Z', '2026-01-06T09:00:00Z'],
      ['ny-0-2', '2026-01-07T03:00:00Z', '2026-01-07T06:00:00Z'],
      ['ny-0-3', '2026-01-06T09:00:00Z', '2026-01-06T10:00:00Z'],
    ]);
  });

  it('adds the margin to the estimate and rounds up to the second', () => {
    const plan = planPatchJobs(
      [NY],
      [
        { id: 'a', siteId: 'ny', model: 'pump' },
        { id: 'b', siteId: 'ny', model: 'other', estimatedDurationMs: 10 * MINUTE_MS + 1 },
      ],
      options({
        durations: { byModel: { pump: 50 * MINUTE_MS }, marginRatio: 0.2, marginMs: 5 * MINUTE_MS },
      }),
    );
    expect(plan.placed.map((job) => job.endMs - job.startMs)).toEqual([
      65 * MINUTE_MS,
      17 * MINUTE_MS + 1000,
    ]);
  });

  it('plans a wave after the previous wave has ended everywhere, plus its soak time', () => {
    const LA: PlanSite = { id: 'la', timeZone: 'America/Los_Angeles' };
    const plan = planPatchJobs(
      [NY, LA],
      [...jobsOf('ny', ['h2'], 0), ...jobsOf('la', ['h1'], 1), ...jobsOf('ny', ['h1'], 1)],
      options({ waves: [{ wave: 0, soakMs: 2 * HOUR_MS }, { wave: 1 }] }),
    );
    // Canary 03:00–05:00 UTC in New York; the next wave may start at 07:00 UTC, inside Los Angeles' window
    // (22:00 PST = 06:00 UTC) and New York's.
    expect(times(plan)).toEqual([
      ['ny-0-0', '2026-01-06T03:00:00Z', '2026-01-06T05:00:00Z'],
      ['la-1-0', '2026-01-06T07:00:00Z', '2026-01-06T08:00:00Z'],
      ['ny-1-0', '2026-01-06T07:00:00Z', '2026-01-06T08:00:00Z'],
    ]);
    expect(plan.waves).toEqual([
      {
        wave: 0,
        notBeforeMs: Date.parse('2026-01-05T12:00:00Z'),
        placed: 1,
        unplaced: 0,
        firstStartMs: Date.parse('2026-01-06T03:00:00Z'),
        lastEndMs: Date.parse('2026-01-06T05:00:00Z'),
      },
      {
        wave: 1,
        notBeforeMs: Date.parse('2026-01-06T07:00:00Z'),
        placed: 2,
        unplaced: 0,
        firstStartMs: Date.parse('2026-01-06T07:00:00Z'),
        lastEndMs: Date.parse('2026-01-06T08:00:00Z'),
      },
    ]);
  });

  it('runs waves in the order given and respects a wave’s own not-before time', () => {
    const plan = planPatchJobs(
      [NY],
      [...jobsOf('ny', ['h1'], 1), ...jobsOf('ny', ['h1'], 2)],
      options({ waves: [{ wave: 2 }, { wave: 1, notBefore: '2026-01-08T00:00:00Z' }] }),
    );
    expect(times(plan)).toEqual([
      ['ny-2-0', '2026-01-06T03:00:00Z', '2026-01-06T04:00:00Z'],
      ['ny-1-0', '2026-01-08T03:00:00Z', '2026-01-08T04:00:00Z'],
    ]);
  });

  it('never lets a job cross the end of a short DST night', () => {
    const spring = planPatchJobs(
      [NY],
      [{ id: 'j', siteId: 'ny', model: 'x', estimatedDurationMs: 6.5 * HOUR_MS }],
      options({ earliestStart: '2026-03-07T12:00:00Z' }),
    );
    // The night of 7 March is 6 hours long; the job waits for the night of 8 March (22:00 EDT = 02:00 UTC).
    expect(times(spring)).toEqual([['j', '2026-03-09T02:00:00Z', '2026-03-09T08:30:00Z']]);
    const fall = planPatchJobs(
      [NY],
      [{ id: 'k', siteId: 'ny', model: 'x', estimatedDurationMs: 7.5 * HOUR_MS }],
      options({ earliestStart: '2026-10-25T12:00:00Z' }),
    );
    // Only the fall-back night (31 October, 8 hours) is long enough.
    expect(fall.placed).toMatchObject([{ jobId: 'k', windowLocalDate: '2026-10-31' }]);
    expect(iso(fall.placed[0]?.startMs ?? 0)).toBe('2026-11-01T02:00:00Z');
  });

  it('starts inside a window that is already open at the earliest start', () => {
    const plan = planPatchJobs(
      [NY],
      jobsOf('ny', ['h1']),
      options({ earliestStart: '2026-01-06T05:30:00Z' }),
    );
    expect(times(plan)).toEqual([['ny-0-0', '2026-01-06T05:30:00Z', '2026-01-06T06:30:00Z']]);
  });

  it('uses the pieces a blackout leaves, each job in the earliest piece it fits', () => {
    const site: PlanSite = {
      ...NY,
      blackouts: [{ kind: 'interval', id: 'b', start: '2026-01-06T05:00:00Z', end: '2026-01-06T06:00:00Z' }],
    };
    const plan = planPatchJobs([site], jobsOf('ny', ['h3', 'h1', 'h2']), options());
    expect(times(plan)).toEqual([
      ['ny-0-0', '2026-01-06T06:00:00Z', '2026-01-06T09:00:00Z'],
      ['ny-0-1', '2026-01-06T03:00:00Z', '2026-01-06T04:00:00Z'],
      ['ny-0-2', '2026-01-07T03:00:00Z', '2026-01-07T05:00:00Z'],
    ]);
  });

  it('reports every job it cannot place, with the reason', () => {
    const plan = planPatchJobs(
      [
        { ...NY, policy: { maxConcurrentJobs: 1 } },
        { id: 'bad', timeZone: 'Nowhere/Land' },
        { id: 'phx', timeZone: 'America/Phoenix' },
        {
          id: 'closed',
          timeZone: 'America/Chicago',
          blackouts: [{ kind: 'local-dates', id: 'all', firstDate: '2026-01-01', lastDate: '2026-12-31' }],
        },
      ],
      [
        { id: 'u1', siteId: 'ghost', model: 'h1' },
        { id: 'u2', siteId: 'bad', model: 'h1' },
        { id: 'u3', siteId: 'ny', model: 'mystery' },
        { id: 'u4', siteId: 'ny', model: 'h1', wave: 7 },
        { id: 'u5', siteId: 'phx', model: 'x', estimatedDurationMs: 8 * HOUR_MS },
        { id: 'p1', siteId: 'ny', model: 'h6' },
        { id: 'p2', siteId: 'ny', model: 'h6' },
        { id: 'u6', siteId: 'ny', model: 'h6' },
        { id: 'u7', siteId: 'closed', model: 'h1' },
      ],
      options({ horizonEnd: '2026-01-07T12:00:00Z', waves: [{ wave: 0 }] }),
    );
    expect(plan.placed.map((job) => job.jobId)).toEqual(['p1', 'p2']);
    expect(plan.unplaced.map((job) => [job.jobId, job.reason])).toEqual([
      ['u1', 'UNKNOWN_SITE'],
      ['u2', 'INVALID_SITE'],
      ['u3', 'NO_ESTIMATE'],
      ['u4', 'UNKNOWN_WAVE'],
      ['u5', 'LONGER_THAN_WINDOW'],
      ['u6', 'NO_ROOM_BEFORE_HORIZON'],
      ['u7', 'NO_ROOM_BEFORE_HORIZON'],
    ]);
    expect(plan.unplaced[1]?.detail).toMatch(/Nowhere\/Land/);
    expect(plan.unplaced[6]?.detail).toMatch(/no window before the horizon/);
    expect(plan.waves).toMatchObject([{ wave: 0, placed: 2, unplaced: 6 }]);
  });

  it('gives the same plan for the same input, whatever the order of the sites', () => {
    const sites: PlanSite[] = [
      { id: 'a', timeZone: 'Europe/London', policy: { maxConcurrentJobs: 2 } },
      { id: 'b', timeZone: 'Australia/Lord_Howe' },
      { id: 'c', timeZone: 'Asia/Kolkata', policy: { weekdays: { tue: null } } },
    ];
    const jobs = ['a', 'b', 'c']
      .flatMap((site) => jobsOf(site, ['h1', 'h3', 'h2', 'h4', 'h1'], 0))
      .concat(['c', 'a'].flatMap((site) => jobsOf(site, ['h2', 'h2'], 1)));
    const first = planPatchJobs(sites, jobs, options());
    expect(planPatchJobs([...sites].reverse(), jobs, options())).toEqual(first);
    expect(planPatchJobs(sites, jobs, options())).toEqual(first);
    expect(first.placed).toHaveLength(19);
  });

  it('refuses unusable options', () => {
    const refuse = (sites: PlanSite[], extra: Partial<PlanOptions>) =>
      expect(() => planPatchJobs(sites, [], options(extra))).toThrow(
        expect.objectContaining({ code: 'INVALID_PLAN_OPTIONS' }),
      );
    refuse([NY], { horizonEnd: '2026-01-05T12:00:00Z' });
    refuse([NY], { waves: [{ wave: 1 }, { wave: 1 }] });
    refuse([NY], { durations: { byModel: {}, marginRatio: -0.1 } });
    refuse([NY], { waves: [{ wave: 1, soakMs: -1 }] });
    refuse([NY, NY], {});
    expect(() => planPatchJobs([NY], [], options({ earliestStart: '2026-01-05' }))).toThrow(
      expect.objectContaining({ code: 'INVALID_INSTANT' }),
    );
  });
});
