import { describe, expect, it } from 'vitest';
import { compilePolicy, policyProblems } from './maintenance-policy.js';

describe('compilePolicy', () => {
  it('defaults to 22:00–05:00 every night and one job at a time', () => {
    const compiled = compilePolicy(undefined);
    expect(compiled.windows).toEqual(Array(7).fill({ startMinute: 22 * 60, lengthMinutes: 7 * 60 }));
    expect(compiled.maxConcurrentJobs).toBe(1);
    expect(compiled.longestMinutes).toBe(420);
  });

  it('merges partial weekday overrides with the daily window; null removes a night', () => {
    const compiled = compilePolicy({
      window: { start: '21:30', end: '04:30' },
      weekdays: { thu: { start: '23:00' }, sun: null, sat: { start: '20:00', end: '08:00' } },
      maxConcurrentJobs: 4,
    });
    expect(compiled.windows[4]).toEqual({ startMinute: 23 * 60, lengthMinutes: 5.5 * 60 });
    expect(compiled.windows[0]).toBeNull();
    expect(compiled.windows[6]).toEqual({ startMinute: 20 * 60, lengthMinutes: 12 * 60 });
    expect(compiled.windows[1]).toEqual({ startMinute: 21.5 * 60, lengthMinutes: 7 * 60 });
    expect(compiled.maxConcurrentJobs).toBe(4);
  });

  it('reads an end equal to the start as 24 hours and a same-day end as a daytime window', () => {
    expect(compilePolicy({ window: { start: '00:00', end: '00:00' } }).windows[2]).toEqual({
      startMinute: 0,
      lengthMinutes: 1440,
    });
    expect(compilePolicy({ window: { start: '12:00', end: '13:15' } }).windows[2]).toEqual({
      startMinute: 720,
      lengthMinutes: 75,
    });
  });

  it('gives the same window key to policies with the same windows', () => {
    const a = compilePolicy({ maxConcurrentJobs: 2 });
    const b = compilePolicy({ window: { start: '22:00', end: '05:00' } });
    const c = compilePolicy({ weekdays: { thu: { start: '23:00' } } });
    expect(a.windowKey).toBe(b.windowKey);
    expect(a.windowKey).not.toBe(c.windowKey);
  });

  it('lists every problem of a bad policy', () => {
    expect(
      policyProblems({
        window: { start: '25:00', end: '5:00' },
        weekdays: { funday: null } as never,
        maxConcurrentJobs: 0,
      }),
    ).toEqual([
      'window.start must be HH:MM, got "25:00"',
      'window.end must be HH:MM, got "5:00"',
      'weekdays.funday is not a weekday (use sun, mon, tue, wed, thu, fri, sat)',
      'maxConcurrentJobs must be an integer from 1 to 1000, got 0',
    ]);
    expect(policyProblems({ maxConcurrentJobs: 1.5 })).toHaveLength(1);
    expect(policyProblems({})).toEqual([]);
  });

  it('refuses windows of consecutive nights that overlap, and allows them to touch', () => {
    expect(policyProblems({ weekdays: { tue: { start: '04:00', end: '06:00' } } })).toEqual([
      'the mon window (22:00–05:00) overlaps the tue window (04:00–06:00)',
    ]);
    expect(policyProblems({ window: { start: '06:00', end: '06:00' } })).toEqual([]);
    expect(() => compilePolicy({ weekdays: { sat: { start: '23:30', end: '23:00' } } })).toThrow(
      expect.objectContaining({ code: 'INVALID_POLICY' }),
    );
  });
});
