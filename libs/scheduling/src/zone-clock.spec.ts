import { describe, expect, it } from 'vitest';
import { SchedulingError } from './scheduling.error.js';
import { HOUR_MS, MINUTE_MS } from './time.js';
import { isValidTimeZone, zoneClock } from './zone-clock.js';

const utc = (iso: string) => Date.parse(iso);
const wall = (iso: string) => Date.parse(`${iso}Z`);

describe('zoneClock', () => {
  it('finds New York 2026 transitions to the second', () => {
    const clock = zoneClock('America/New_York');
    expect(clock.transitionsBetween(utc('2026-01-01T00:00:00Z'), utc('2027-01-01T00:00:00Z'))).toEqual([
      { atMs: utc('2026-03-08T07:00:00Z'), offsetBeforeMs: -5 * HOUR_MS, offsetAfterMs: -4 * HOUR_MS },
      { atMs: utc('2026-11-01T06:00:00Z'), offsetBeforeMs: -4 * HOUR_MS, offsetAfterMs: -5 * HOUR_MS },
    ]);
    expect(clock.offsetAt(utc('2026-03-08T06:59:59.999Z'))).toBe(-5 * HOUR_MS);
    expect(clock.offsetAt(utc('2026-03-08T07:00:00Z'))).toBe(-4 * HOUR_MS);
  });

  it('knows half-hour and 45-minute zones', () => {
    expect(zoneClock('Asia/Kolkata').offsetAt(utc('2040-07-01T00:00:00Z'))).toBe(5.5 * HOUR_MS);
    expect(
      zoneClock('Asia/Kolkata').transitionsBetween(utc('1990-01-01T00:00:00Z'), utc('2060-01-01T00:00:00Z')),
    ).toEqual([]);
    expect(zoneClock('Pacific/Chatham').offsetAt(utc('2026-07-01T00:00:00Z'))).toBe(12.75 * HOUR_MS);
    expect(zoneClock('Pacific/Chatham').offsetAt(utc('2026-01-01T00:00:00Z'))).toBe(13.75 * HOUR_MS);
    const lordHowe = zoneClock('Australia/Lord_Howe');
    const [change] = lordHowe.transitionsBetween(utc('2026-03-01T00:00:00Z'), utc('2026-05-01T00:00:00Z'));
    expect(change).toEqual({
      atMs: utc('2026-04-04T15:00:00Z'),
      offsetBeforeMs: 11 * HOUR_MS,
      offsetAfterMs: 10.5 * HOUR_MS,
    });
  });

  it('resolves wall times that exist once, never, or twice', () => {
    const clock = zoneClock('America/New_York');
    expect(clock.resolveWallTime(wall('2026-03-07T22:00:00'), 'earlier')).toEqual({
      instantMs: utc('2026-03-08T03:00:00Z'),
      kind: 'exact',
    });
    // 02:30 does not exist on 8 March 2026: the clock jumps from 01:59:59 EST to 03:00 EDT at 07:00 UTC.
    expect(clock.resolveWallTime(wall('2026-03-08T02:30:00'), 'earlier')).toEqual({
      instantMs: utc('2026-03-08T07:00:00Z'),
      kind: 'skipped',
    });
    // 01:30 happens twice on 1 November 2026: first in EDT, then in EST.
    expect(clock.resolveWallTime(wall('2026-11-01T01:30:00'), 'earlier')).toEqual({
      instantMs: utc('2026-11-01T05:30:00Z'),
      kind: 'repeated',
    });
    expect(clock.resolveWallTime(wall('2026-11-01T01:30:00'), 'later')).toEqual({
      instantMs: utc('2026-11-01T06:30:00Z'),
      kind: 'repeated',
    });
  });

  it('reads the wall clock at an instant', () => {
    const clock = zoneClock('Europe/London');
    expect(clock.wallTimeAt(utc('2026-07-01T12:00:00Z'))).toBe(wall('2026-07-01T13:00:00'));
    expect(clock.wallTimeAt(utc('2026-12-01T12:00:00Z'))).toBe(wall('2026-12-01T12:00:00'));
    expect(clock.wallTimeAt(utc('2026-12-01T12:00:00Z') + 7 * MINUTE_MS)).toBe(wall('2026-12-01T12:07:00'));
  });

  it('refuses unknown zones with INVALID_TIME_ZONE', () => {
    expect(isValidTimeZone('America/Nowhere')).toBe(false);
    expect(isValidTimeZone('US/Eastern')).toBe(true);
    expect(() => zoneClock('America/Nowhere')).toThrow(SchedulingError);
    expect(() => zoneClock('Mars/Olympus_Mons')).toThrow(
      expect.objectContaining({ code: 'INVALID_TIME_ZONE' }),
    );
  });
});
