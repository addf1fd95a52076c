// Property tests of the window math against an independent oracle: Intl's own reading of each instant.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maintenanceWindows, type WindowInstance } from './maintenance-window.js';
import { compilePolicy, type MaintenancePolicy, WEEKDAYS, type Weekday } from './maintenance-policy.js';
import { DAY_MS, formatClockTime, HOUR_MS, MINUTE_MS, parseLocalDate, SECOND_MS } from './time.js';
import { zoneClock } from './zone-clock.js';

/** Zone → the size of its DST shift in the years tested. */
const ZONES: Record<string, number> = {
  'America/New_York': HOUR_MS,
  'America/Chicago': HOUR_MS,
  'America/Los_Angeles': HOUR_MS,
  'America/Phoenix': 0,
  'Europe/London': HOUR_MS,
  'Australia/Lord_Howe': HOUR_MS / 2,
  'Pacific/Chatham': HOUR_MS,
  'Asia/Kolkata': 0,
};
const ZONE_NAMES = Object.keys(ZONES);
const FIRST_YEAR = 1990;
const LAST_YEAR = 2060;

const oracleFormatters = new Map<string, Intl.DateTimeFormat>();
/** The wall time (local fields encoded as UTC ms) Intl shows at an instant, read through formatToParts. */
function oracleWall(timeZone: string, ms: number): number {
  let formatter = oracleFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    oracleFormatters.set(timeZone, formatter);
  }
  const fields: Record<string, number> = {};
  for (const part of formatter.formatToParts(ms)) fields[part.type] = Number(part.value);
  const { year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0 } = fields;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}
const oracleOffset = (timeZone: string, ms: number) =>
  oracleWall(timeZone, ms) - Math.floor(ms / 1000) * 1000;

/** The nominal wall-clock range [S, E) of the window of a night, from the policy as data (not the library's). */
function nominalRange(policy: MaintenancePolicy | undefined, localDate: string): [number, number] | null {
  const day = parseLocalDate(localDate) as number;
  const weekday = WEEKDAYS[new Date(day * DAY_MS).getUTCDay()] as Weekday;
  const override = policy?.weekdays?.[weekday];
  if (override === null) return null;
  const base = policy?.window ?? { start: '22:00', end: '05:00' };
  const start = toMinutes(override?.start ?? base.start);
  const end = toMinutes(override?.end ?? base.end);
  const length = end > start ? end - start : end + 1440 - start;
  const startWall = day * DAY_MS + start * MINUTE_MS;
  return [startWall, startWall + length * MINUTE_MS];
}
const toMinutes = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));

/** Checks one window against the oracle; returns the first broken promise, or null. */
function brokenPromise(timeZone: string, policy: MaintenancePolicy | undefined, window: WindowInstance) {
  const range = nominalRange(policy, window.localDate);
  if (!range) return `a window on ${window.localDate}, a night without one`;
  const [startWall, endWall] = range;
  const { startMs, endMs } = window;
  if (!(endMs > startMs)) return 'an empty window';
  if (startMs % SECOND_MS || endMs % SECOND_MS) return 'a boundary off the second';
  const inside = (ms: number) => {
    const wall = oracleWall(timeZone, ms);
    return wall >= startWall && wall < endWall;
  };
  // Every instant inside shows a time inside: sampled every 10 minutes, around every offset change, at both ends.
  const samples = [startMs, endMs - SECOND_MS];
  for (let ms = startMs; ms < endMs; ms += 10 * MINUTE_MS) samples.push(ms);
  for (const change of zoneClock(timeZone).transitionsBetween(startMs - DAY_MS, endMs + DAY_MS)) {
    samples.push(change.atMs - SECOND_MS, change.atMs, change.atMs + SECOND_MS);
  }
  for (const ms of samples) {
    if (ms >= startMs && ms < endMs && !inside(ms))
      return `instant ${new Date(ms).toISOString()} reads outside`;
  }
  // As long as possible: the second before the start and the end itself read outside.
  if (inside(startMs - SECOND_MS)) return 'the window could have opened earlier';
  if (oracleWall(timeZone, endMs) < endWall) return 'the window closed before the clock reached the end time';
  // Exact boundaries: the length is the nominal one minus the change of offset.
  const exactStart = oracleWall(timeZone, startMs) === startWall;
  const exactEnd = oracleWall(timeZone, endMs) === endWall;
  const expected = endWall - startWall - (oracleOffset(timeZone, endMs) - oracleOffset(timeZone, startMs));
  if (exactStart && exactEnd && endMs - startMs !== expected)
    return `length ${endMs - startMs}, not ${expected}`;
  return null;
}

const clockTime = fc.integer({ min: 0, max: 95 }).map((quarter) => formatClockTime(quarter * 15));
/** Policies whose windows last at least 75 minutes, so no (at most one-hour) gap can swallow one. */
const policyArbitrary: fc.Arbitrary<MaintenancePolicy | undefined> = fc.oneof(
  fc.constant(undefined),
  fc
    .record({
      start: fc.integer({ min: 0, max: 95 }),
      length: fc.integer({ min: 5, max: 64 }),
      overrides: fc.dictionary(
        fc.constantFrom(...WEEKDAYS),
        fc.oneof(fc.constant(null), fc.record({ start: clockTime }, { requiredKeys: [] })),
        { maxKeys: 3 },
      ),
    })
    .map(({ start, length, overrides }) => ({
      window: { start: formatClockTime(start * 15), end: formatClockTime((start * 15 + length * 15) % 1440) },
      weekdays: overrides,
    }))
    .filter((policy) => {
      try {
        const compiled = compilePolicy(policy);
        return compiled.windows.every((window) => !window || window.lengthMinutes >= 75);
      } catch {
        return false;
      }
    }),
);

function checkRange(timeZone: string, policy: MaintenancePolicy | undefined, fromMs: number, toMs: number) {
  const windows = maintenanceWindows({ timeZone, policy }, { from: fromMs, to: toMs });
  for (let i = 0; i < windows.length; i++) {
    const window = windows[i] as WindowInstance;
    const broken = brokenPromise(timeZone, policy, window);
    expect(broken, `${timeZone} ${window.localDate} ${JSON.stringify(policy)}`).toBeNull();
    expect(window.endMs > fromMs && window.startMs < toMs).toBe(true);
    const next = windows[i + 1];
    if (next) expect(window.endMs).toBeLessThanOrEqual(next.startMs);
  }
  // No night lost or doubled: every night well inside the range has exactly one window if its weekday has one.
  const byDate = new Map<string, number>();
  for (const window of windows) byDate.set(window.localDate, (byDate.get(window.localDate) ?? 0) + 1);
  for (let day = Math.ceil(fromMs / DAY_MS) + 2; day * DAY_MS < toMs - 2 * DAY_MS; day++) {
    const localDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
    const expected = nominalRange(policy, localDate) ? 1 : 0;
    expect(byDate.get(localDate) ?? 0, `${timeZone} ${localDate}`).toBe(expected);
  }
}

describe('window instances (property-based, zones × years 1990–2060)', () => {
  it('hold their promises on random ranges and policies', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONE_NAMES),
        fc.integer({ min: FIRST_YEAR, max: LAST_YEAR }),
        fc.integer({ min: 0, max: 364 }),
        fc.integer({ min: 5, max: 15 }),
        policyArbitrary,
        (timeZone, year, dayOfYear, days, policy) => {
          const fromMs = Date.UTC(year, 0, 1) + dayOfYear * DAY_MS;
          checkRange(timeZone, policy, fromMs, fromMs + days * DAY_MS);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('hold their promises around every kind of offset change', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONE_NAMES.filter((zone) => ZONES[zone])),
        fc.integer({ min: FIRST_YEAR, max: LAST_YEAR }),
        fc.boolean(),
        policyArbitrary,
        (timeZone, year, second, policy) => {
          const changes = zoneClock(timeZone).transitionsBetween(
            Date.UTC(year, 0, 1),
            Date.UTC(year + 1, 0, 1),
          );
          expect(changes).toHaveLength(2);
          const change = changes[second ? 1 : 0] as { atMs: number };
          checkRange(timeZone, policy, change.atMs - 5 * DAY_MS, change.atMs + 5 * DAY_MS);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('policies with boundaries in the skipped or repeated time keep their promises', () => {
    // Start or end times at the transitions' own hours: 01:00–03:59 local, where US, London, Lord Howe and Chatham
    // skip or repeat time.
    const boundary = fc.integer({ min: 0, max: 11 }).map((quarter) => formatClockTime(60 + quarter * 15));
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONE_NAMES.filter((zone) => ZONES[zone])),
        fc.integer({ min: FIRST_YEAR, max: LAST_YEAR }),
        fc.boolean(),
        boundary,
        fc.boolean(),
        (timeZone, year, second, time, startsThere) => {
          const policy: MaintenancePolicy = startsThere
            ? { window: { start: time, end: '06:00' } }
            : { window: { start: '22:00', end: time } };
          const changes = zoneClock(timeZone).transitionsBetween(
            Date.UTC(year, 0, 1),
            Date.UTC(year + 1, 0, 1),
          );
          const change = changes[second ? 1 : 0] as { atMs: number };
          checkRange(timeZone, policy, change.atMs - 4 * DAY_MS, change.atMs + 4 * DAY_MS);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the default 22:00–05:00 window, every night of every year: exact local times, nominal length ± the DST shift', () => {
    const problems: string[] = [];
    for (const timeZone of ZONE_NAMES) {
      const shift = ZONES[timeZone] as number;
      for (let year = FIRST_YEAR; year <= LAST_YEAR; year++) {
        const windows = maintenanceWindows(
          { timeZone },
          { from: Date.UTC(year, 0, 1, 12), to: Date.UTC(year + 1, 0, 1, 12) },
        ).filter((window) => window.localDate.startsWith(String(year)));
        const daysInYear = (Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / DAY_MS;
        if (windows.length !== daysInYear) problems.push(`${timeZone} ${year}: ${windows.length} windows`);
        let changedNights = 0;
        for (const window of windows) {
          const day = (parseLocalDate(window.localDate) as number) * DAY_MS;
          const where = `${timeZone} ${window.localDate}`;
          if (oracleWall(timeZone, window.startMs) !== day + 22 * HOUR_MS) problems.push(`${where}: start`);
          if (oracleWall(timeZone, window.endMs) !== day + DAY_MS + 5 * HOUR_MS)
            problems.push(`${where}: end`);
          const length = window.endMs - window.startMs;
          if (length === 7 * HOUR_MS) continue;
          changedNights++;
          if (length !== 7 * HOUR_MS - shift && length !== 7 * HOUR_MS + shift) {
            problems.push(`${where}: ${length / HOUR_MS} h`);
          }
        }
        if (changedNights !== (shift ? 2 : 0))
          problems.push(`${timeZone} ${year}: ${changedNights} DST nights`);
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
