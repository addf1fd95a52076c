import { describe, expect, it } from 'vitest';
import { type RolloverRequest, rolloverJob, rolloverJobs } from './job-rollover.js';
import type { PlanSite } from './patch-plan.types.js';
import { HOUR_MS } from './time.js';

const at = (text: string) => Date.parse(text);
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const NY: PlanSite = { id: 'ny', timeZone: 'America/New_York' };
// The job was planned 03:00–04:00 UTC on 6 January (the night of 5 January, 22:00–05:00 EST = 03:00–10:00 UTC).
const job = { jobId: 'j', siteId: 'ny', wave: 0, durationMs: HOUR_MS };
const request = (extra: Partial<RolloverRequest>): RolloverRequest => ({
  site: NY,
  job,
  cause: 'missed',
  now: '2026-01-06T04:30:00Z',
  catchUp: { mode: 'same-window' },
  ...extra,
});
const startOf = (result: ReturnType<typeof rolloverJob>) =>
  result.status === 'placed' ? iso(result.job.startMs) : result.job.reason;

describe('rolloverJob', () => {
  it('same-window: a job whose agent was offline at window open catches up in the same window', () => {
    const result = rolloverJob(request({}));
    expect(result).toMatchObject({ status: 'placed', rollovers: 1, job: { windowLocalDate: '2026-01-05' } });
    expect(startOf(result)).toBe('2026-01-06T04:30:00Z');
  });

  it('same-window: waits for a free lane, or the next night when the rest of the window is too short', () => {
    expect(
      startOf(
        rolloverJob(
          request({ busy: [{ startMs: at('2026-01-06T04:00:00Z'), endMs: at('2026-01-06T06:00:00Z') }] }),
        ),
      ),
    ).toBe('2026-01-06T06:00:00Z');
    expect(startOf(rolloverJob(request({ now: '2026-01-06T09:30:00Z' })))).toBe('2026-01-07T03:00:00Z');
  });

  it('next-window: a missed job waits for the next night', () => {
    expect(startOf(rolloverJob(request({ catchUp: { mode: 'next-window' } })))).toBe('2026-01-07T03:00:00Z');
    // Outside any window the next window is simply the next one to open.
    expect(
      startOf(rolloverJob(request({ catchUp: { mode: 'next-window' }, now: '2026-01-06T15:00:00Z' }))),
    ).toBe('2026-01-07T03:00:00Z');
  });

  it('a deferred job (device in clinical use) moves to the next night even with same-window', () => {
    expect(startOf(rolloverJob(request({ cause: 'deferred' })))).toBe('2026-01-07T03:00:00Z');
  });

  it('held (wave not released, late blackout): earliest slot outside blackouts, uncounted, any policy', () => {
    for (const catchUp of [
      { mode: 'same-window' as const },
      { mode: 'hold' as const },
      { mode: 'next-window' as const, maxRollovers: 0 },
    ]) {
      const result = rolloverJob(request({ cause: 'held', catchUp, job: { ...job, rollovers: 3 } }));
      expect(result).toMatchObject({ status: 'placed', rollovers: 3 });
      expect(startOf(result)).toBe('2026-01-06T04:30:00Z');
      // A freeze declared for the rest of the night: the first slot after it.
      const frozen = rolloverJob(
        request({
          cause: 'held',
          catchUp,
          site: {
            ...NY,
            blackouts: [
              {
                kind: 'interval',
                id: 'freeze',
                start: '2026-01-06T04:00:00Z',
                end: '2026-01-07T04:00:00Z',
              },
            ],
          },
        }),
      );
      expect(startOf(frozen)).toBe('2026-01-07T04:00:00Z');
    }
  });

  it('hold and the rollover limit report the job instead of moving it', () => {
    expect(rolloverJob(request({ catchUp: { mode: 'hold' } }))).toMatchObject({
      status: 'unplaced',
      rollovers: 0,
      job: { jobId: 'j', reason: 'HELD_FOR_OPERATOR' },
    });
    expect(
      rolloverJob(
        request({ job: { ...job, rollovers: 2 }, catchUp: { mode: 'same-window', maxRollovers: 2 } }),
      ),
    ).toMatchObject({
      status: 'unplaced',
      job: { reason: 'ROLLOVER_LIMIT' },
    });
    expect(
      rolloverJob(
        request({ job: { ...job, rollovers: 1 }, catchUp: { mode: 'same-window', maxRollovers: 2 } }),
      ),
    ).toMatchObject({
      status: 'placed',
      rollovers: 2,
    });
  });

  it('respects blackouts, the wave start and the horizon', () => {
    const frozen: PlanSite = {
      ...NY,
      blackouts: [
        { kind: 'interval', id: 'storm', start: '2026-01-06T00:00:00Z', end: '2026-01-08T00:00:00Z' },
      ],
    };
    expect(startOf(rolloverJob(request({ site: frozen })))).toBe('2026-01-08T03:00:00Z');
    expect(startOf(rolloverJob(request({ notBefore: '2026-01-06T07:15:00Z' })))).toBe('2026-01-06T07:15:00Z');
    expect(startOf(rolloverJob(request({ site: frozen, horizonEnd: '2026-01-07T12:00:00Z' })))).toBe(
      'NO_ROOM_BEFORE_HORIZON',
    );
    expect(startOf(rolloverJob(request({ job: { ...job, durationMs: 9 * HOUR_MS } })))).toBe(
      'LONGER_THAN_WINDOW',
    );
    expect(startOf(rolloverJob(request({ site: { id: 'x', timeZone: 'Nowhere/Land' } })))).toBe(
      'INVALID_SITE',
    );
  });

  it('moves several jobs of a site in order, each seeing the ones before as busy', () => {
    const results = rolloverJobs({
      site: { ...NY, policy: { maxConcurrentJobs: 2 } },
      now: '2026-01-06T08:00:00Z',
      catchUp: { mode: 'same-window' },
      busy: [{ startMs: at('2026-01-06T07:00:00Z'), endMs: at('2026-01-06T09:00:00Z') }],
      jobs: [
        { job: { ...job, jobId: 'a' }, cause: 'missed' },
        { job: { ...job, jobId: 'b' }, cause: 'missed' },
        { job: { ...job, jobId: 'c' }, cause: 'deferred' },
      ],
    });
    expect(results.map(startOf)).toEqual([
      '2026-01-06T08:00:00Z',
      '2026-01-06T09:00:00Z',
      '2026-01-07T03:00:00Z',
    ]);
  });
});
