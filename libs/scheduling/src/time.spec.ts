import { describe, expect, it } from 'vitest';
import {
  formatLocalDate,
  formatWallTime,
  parseClockTime,
  parseLocalDate,
  toEpochMs,
  weekdayOfDay,
} from './time.js';

describe('time helpers', () => {
  it('reads instants as epoch ms or zoned ISO strings only', () => {
    expect(toEpochMs('2026-03-08T07:00:00Z')).toBe(Date.UTC(2026, 2, 8, 7));
    expect(toEpochMs('2026-03-08T03:00:00-04:00')).toBe(Date.UTC(2026, 2, 8, 7));
    expect(toEpochMs(Date.UTC(2026, 2, 8, 7))).toBe(Date.UTC(2026, 2, 8, 7));
    expect(() => toEpochMs('2026-03-08T03:00:00')).toThrow(
      expect.objectContaining({ code: 'INVALID_INSTANT' }),
    );
    expect(() => toEpochMs(Number.NaN)).toThrow(expect.objectContaining({ code: 'INVALID_INSTANT' }));
    expect(() => toEpochMs(Date.UTC(2400, 0, 1))).toThrow(
      expect.objectContaining({ code: 'INSTANT_OUT_OF_RANGE' }),
    );
  });

  it('parses clock times and real calendar dates', () => {
    expect(parseClockTime('00:00')).toBe(0);
    expect(parseClockTime('23:59')).toBe(1439);
    expect(parseClockTime('24:00')).toBeUndefined();
    expect(parseClockTime('7:00')).toBeUndefined();
    expect(parseLocalDate('1970-01-02')).toBe(1);
    expect(parseLocalDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29) / 86_400_000);
    expect(parseLocalDate('2026-02-29')).toBeUndefined();
  });

  it('knows weekdays and renders offsets', () => {
    expect(weekdayOfDay(0)).toBe(4); // 1 January 1970 was a Thursday
    expect(weekdayOfDay(-1)).toBe(3);
    expect(formatWallTime(Date.UTC(2026, 8, 27, 5), 13.75 * 3_600_000)).toBe('2026-09-27T05:00:00+13:45');
    expect(formatWallTime(Date.UTC(1850, 0, 1), -(4 * 3600 + 56 * 60 + 2) * 1000)).toBe(
      '1850-01-01T00:00:00-04:56:02',
    );
  });
});

describe('civil dates', () => {
  it('agree with Date for every day from 1800 to 2300', () => {
    for (let day = Date.UTC(1800, 0, 1) / 86_400_000; day < Date.UTC(2300, 0, 1) / 86_400_000; day += 1) {
      const expected = new Date(day * 86_400_000).toISOString().slice(0, 10);
      if (formatLocalDate(day) !== expected) expect(formatLocalDate(day)).toBe(expected);
    }
  });
});
