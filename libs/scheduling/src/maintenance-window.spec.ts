import { describe, expect, it } from 'vitest';
import type { Blackout } from './blackout.js';
import { describeWindow, maintenanceWindows, windowAt } from './maintenance-window.js';
import type { MaintenancePolicy } from './maintenance-policy.js';
import { HOUR_MS } from './time.js';

const utc = (iso: string) => Date.parse(iso);
const hours = (window: { startMs: number; endMs: number }) => (window.endMs - window.startMs) / HOUR_MS;

function nights(
  timeZone: string,
  from: string,
  to: string,
  policy?: MaintenancePolicy,
  blackouts?: Blackout[],
) {
  return maintenanceWindows({ timeZone, policy }, { from, to }, blackouts).map((window) => ({
    ...describeWindow(window, timeZone),
    clipped: window.clipped,
  }));
}

describe('maintenance windows in America/New_York, 2026', () => {
  it('the 22:00–05:00 window lasts 6 hours on the spring-forward night (8 March)', () => {
    const found = nights('America/New_York', '2026-03-06T12:00:00Z', '2026-03-09T12:00:00Z');
    expect(found.map((w) => [w.localDate, w.startLocal, w.endLocal, w.minutes / 60])).toEqual([
      ['2026-03-06', '2026-03-06T22:00:00-05:00', '2026-03-07T05:00:00-05:00', 7],
      ['2026-03-07', '2026-03-07T22:00:00-05:00', '2026-03-08T05:00:00-04:00', 6],
      ['2026-03-08', '2026-03-08T22:00:00-04:00', '2026-03-09T05:00:00-04:00', 7],
    ]);
    expect(found[1]).toMatchObject({
      startUtc: '2026-03-08T03:00:00.000Z',
      endUtc: '2026-03-08T09:00:00.000Z',
    });
  });

  it('the 22:00–05:00 window lasts 8 hours on the fall-back night (1 November)', () => {
    const found = nights('America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z');
    expect(found.map((w) => [w.localDate, w.startUtc, w.endUtc, w.minutes / 60])).toEqual([
      ['2026-10-31', '2026-11-01T02:00:00.000Z', '2026-11-01T10:00:00.000Z', 8],
      ['2026-11-01', '2026-11-02T03:00:00.000Z', '2026-11-02T10:00:00.000Z', 7],
    ]);
  });

  it('a start in the skipped hour opens at the jump; an end there closes at the jump', () => {
    const late = nights('America/New_York', '2026-03-08T00:00:00Z', '2026-03-08T12:00:00Z', {
      window: { start: '02:30', end: '05:00' },
    });
    expect(late).toMatchObject([
      {
        localDate: '2026-03-08',
        startLocal: '2026-03-08T03:00:00-04:00',
        endLocal: '2026-03-08T05:00:00-04:00',
      },
    ]);
    const early = nights('America/New_York', '2026-03-08T00:00:00Z', '2026-03-08T12:00:00Z', {
      window: { start: '22:00', end: '02:30' },
    });
    expect(early).toMatchObject([
      { localDate: '2026-03-07', startUtc: '2026-03-08T03:00:00.000Z', endUtc: '2026-03-08T07:00:00.000Z' },
    ]);
    expect(early[0]?.minutes).toBe(240);
  });

  it('a start in the repeated hour uses its second reading, an end there its first', () => {
    const late = nights('America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T12:00:00Z', {
      window: { start: '01:30', end: '05:00' },
    });
    expect(late).toMatchObject([
      { startLocal: '2026-11-01T01:30:00-05:00', endLocal: '2026-11-01T05:00:00-05:00' },
    ]);
    const early = nights('America/New_York', '2026-11-01T00:00:00Z', '2026-11-01T12:00:00Z', {
      window: { start: '22:00', end: '01:30' },
    });
    expect(early).toMatchObject([
      { startLocal: '2026-10-31T22:00:00-04:00', endLocal: '2026-11-01T01:30:00-04:00' },
    ]);
    const inside = nights('America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T08:00:00Z', {
      window: { start: '01:10', end: '01:50' },
    });
    expect(inside).toMatchObject([
      { startUtc: '2026-11-01T06:10:00.000Z', endUtc: '2026-11-01T06:50:00.000Z' },
    ]);
  });

  it('a start at the very time the clock falls back to opens at its first reading', () => {
    // 01:00 is read at 05:00 UTC (EDT) and again at 06:00 UTC (EST); in between the clock never shows less.
    const found = nights('America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T12:00:00Z', {
      window: { start: '01:00', end: '05:00' },
    });
    expect(found).toMatchObject([
      { startUtc: '2026-11-01T05:00:00.000Z', endUtc: '2026-11-01T10:00:00.000Z' },
    ]);
    expect(found[0]?.minutes).toBe(300);
  });

  it('a window the clock skips entirely does not happen that night', () => {
    const found = nights('America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z', {
      window: { start: '02:10', end: '02:50' },
    });
    expect(found.map((w) => w.localDate)).toEqual(['2026-03-07', '2026-03-09']);
  });

  it('applies weekday overrides by the weekday on which the window opens', () => {
    const found = nights('America/New_York', '2026-01-07T12:00:00Z', '2026-01-13T12:00:00Z', {
      weekdays: { thu: { start: '23:00' }, sat: { end: '07:00' }, sun: null },
    });
    expect(found.map((w) => [w.localDate, w.startLocal.slice(11, 16), w.endLocal.slice(11, 16)])).toEqual([
      ['2026-01-07', '22:00', '05:00'],
      ['2026-01-08', '23:00', '05:00'],
      ['2026-01-09', '22:00', '05:00'],
      ['2026-01-10', '22:00', '07:00'],
      ['2026-01-12', '22:00', '05:00'],
    ]);
  });
});

describe('maintenance windows elsewhere', () => {
  it('Lord Howe (30-minute DST): 7.5 hours when clocks go back, 6.5 when they go forward', () => {
    const april = nights('Australia/Lord_Howe', '2026-04-03T12:00:00Z', '2026-04-05T12:00:00Z');
    expect(april.map((w) => [w.localDate, w.startLocal, w.endLocal, w.minutes / 60])).toEqual([
      ['2026-04-03', '2026-04-03T22:00:00+11:00', '2026-04-04T05:00:00+11:00', 7],
      ['2026-04-04', '2026-04-04T22:00:00+11:00', '2026-04-05T05:00:00+10:30', 7.5],
      ['2026-04-05', '2026-04-05T22:00:00+10:30', '2026-04-06T05:00:00+10:30', 7],
    ]);
    const october = nights('Australia/Lord_Howe', '2026-10-03T11:00:00Z', '2026-10-03T20:00:00Z');
    expect(october.map((w) => [w.localDate, w.startUtc, w.endUtc, w.minutes / 60])).toEqual([
      ['2026-10-03', '2026-10-03T11:30:00.000Z', '2026-10-03T18:00:00.000Z', 6.5],
    ]);
  });

  it('Lord Howe: a start in the repeated half hour uses its second reading', () => {
    const found = nights('Australia/Lord_Howe', '2026-04-04T12:00:00Z', '2026-04-04T20:00:00Z', {
      window: { start: '01:45', end: '05:00' },
    });
    expect(found).toMatchObject([
      { startUtc: '2026-04-04T15:15:00.000Z', startLocal: '2026-04-05T01:45:00+10:30' },
    ]);
  });

  it('Chatham (UTC+12:45/+13:45): 6 hours on the spring-forward night', () => {
    const found = nights('Pacific/Chatham', '2026-09-26T10:00:00Z', '2026-09-26T16:00:00Z');
    expect(found).toMatchObject([
      {
        localDate: '2026-09-26',
        startLocal: '2026-09-26T22:00:00+12:45',
        endLocal: '2026-09-27T05:00:00+13:45',
        minutes: 360,
      },
    ]);
  });

  it('Phoenix keeps 7 hours all year', () => {
    const found = maintenanceWindows(
      { timeZone: 'America/Phoenix' },
      { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' },
    );
    // The night of 31 December 2025 reaches into the range; that of 31 December 2026 opens after it.
    expect(found).toHaveLength(365);
    expect([found[0]?.localDate, found.at(-1)?.localDate]).toEqual(['2025-12-31', '2026-12-30']);
    expect(new Set(found.map(hours))).toEqual(new Set([7]));
  });
});

describe('blackouts cut windows', () => {
  const timeZone = 'America/Chicago';
  it('a local-dates blackout removes whole nights', () => {
    const found = nights(timeZone, '2026-12-23T12:00:00Z', '2026-12-28T12:00:00Z', undefined, [
      { kind: 'local-dates', id: 'xmas', firstDate: '2026-12-24', lastDate: '2026-12-25' },
    ]);
    expect(found.map((w) => w.localDate)).toEqual(['2026-12-23', '2026-12-26', '2026-12-27']);
  });

  it('an interval blackout shrinks a window it overlaps and splits one it falls inside', () => {
    const found = nights(timeZone, '2026-06-01T12:00:00Z', '2026-06-03T12:00:00Z', undefined, [
      // 1 June: 22:00–05:00 CDT is 03:00–10:00 UTC on 2 June; block its first hour.
      { kind: 'interval', id: 'a', start: '2026-06-02T02:00:00Z', end: '2026-06-02T04:00:00Z' },
      // 2 June: 03:00–10:00 UTC on 3 June; block 05:00–06:00 UTC inside it.
      { kind: 'interval', id: 'b', start: '2026-06-03T05:00:00Z', end: '2026-06-03T06:00:00Z' },
    ]);
    expect(found.map((w) => [w.localDate, w.startUtc, w.endUtc, w.clipped])).toEqual([
      ['2026-06-01', '2026-06-02T04:00:00.000Z', '2026-06-02T10:00:00.000Z', true],
      ['2026-06-02', '2026-06-03T03:00:00.000Z', '2026-06-03T05:00:00.000Z', true],
      ['2026-06-02', '2026-06-03T06:00:00.000Z', '2026-06-03T10:00:00.000Z', true],
    ]);
  });

  it('an interval blackout covering a window removes it', () => {
    const found = nights(timeZone, '2026-06-01T12:00:00Z', '2026-06-03T12:00:00Z', undefined, [
      { kind: 'interval', id: 'freeze', start: '2026-06-02T00:00:00Z', end: '2026-06-02T12:00:00Z' },
    ]);
    expect(found.map((w) => w.localDate)).toEqual(['2026-06-02']);
  });
});

describe('windowAt', () => {
  const site = { timeZone: 'America/New_York' };
  it('finds the window containing an instant, or none', () => {
    expect(windowAt(site, '2026-03-08T08:59:59Z')).toMatchObject({ localDate: '2026-03-07' });
    expect(windowAt(site, '2026-03-08T09:00:00Z')).toBeNull();
    expect(windowAt(site, '2026-03-08T03:00:00Z')).toMatchObject({ startMs: utc('2026-03-08T03:00:00Z') });
    expect(windowAt(site, '2026-03-08T02:59:59Z')).toBeNull();
  });

  it('says no inside a blackout', () => {
    const blackouts: Blackout[] = [
      { kind: 'interval', id: 'x', start: '2026-03-08T04:00:00Z', end: '2026-03-08T05:00:00Z' },
    ];
    expect(windowAt(site, '2026-03-08T04:30:00Z', blackouts)).toBeNull();
    expect(windowAt(site, '2026-03-08T05:30:00Z', blackouts)).toMatchObject({ clipped: true });
  });
});

describe('input checks', () => {
  it('refuses a time without a zone, an empty range and a bad zone', () => {
    const site = { timeZone: 'America/New_York' };
    expect(() =>
      maintenanceWindows(site, { from: '2026-03-08T00:00:00', to: '2026-03-09T00:00:00Z' }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INSTANT' }));
    expect(() => maintenanceWindows(site, { from: 5, to: 5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_RANGE' }),
    );
    expect(() => maintenanceWindows({ timeZone: 'Nowhere/City' }, { from: 0, to: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_TIME_ZONE' }),
    );
  });
});
