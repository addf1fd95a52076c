// Instants, wall-clock numbers and the text forms the library reads and writes.
//
// Two kinds of millisecond numbers appear in this library and are never mixed up:
// - an instant: epoch milliseconds (UTC), what the rest of the system stores;
// - a wall time: the local calendar date and clock reading of a zone encoded as if it were UTC
//   (`Date.UTC(year, month - 1, day, hour, minute)`), so calendar arithmetic is plain integer arithmetic.
import { SchedulingError, SchedulingErrorCode } from './scheduling.error.js';

export const SECOND_MS = 1_000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** An instant given as epoch milliseconds or as an ISO-8601 string that carries `Z` or an offset. */
export type Instant = number | string;

/** Instants the library accepts: wide enough for any plan, narrow enough that every zone is well defined. */
export const MIN_SUPPORTED_MS = Date.UTC(1800, 0, 1);
export const MAX_SUPPORTED_MS = Date.UTC(2300, 0, 1);

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Epoch milliseconds of an instant. A string without `Z` or an offset is refused: JavaScript would read it in
 * the host's zone, which is exactly the mistake this library exists to prevent.
 */
export function toEpochMs(instant: Instant, what = 'instant'): number {
  let ms: number;
  if (typeof instant === 'number') {
    ms = instant;
  } else if (typeof instant === 'string' && ISO_WITH_ZONE.test(instant)) {
    ms = Date.parse(instant);
  } else {
    throw new SchedulingError(
      SchedulingErrorCode.INVALID_INSTANT,
      `${what} must be epoch milliseconds or an ISO-8601 time with Z or an offset`,
      { [what]: instant },
    );
  }
  if (!Number.isFinite(ms)) {
    throw new SchedulingError(SchedulingErrorCode.INVALID_INSTANT, `${what} is not a valid time`, {
      [what]: instant,
    });
  }
  assertSupported(ms, what);
  return Math.trunc(ms);
}

export function assertSupported(ms: number, what = 'instant'): void {
  if (!(ms >= MIN_SUPPORTED_MS && ms < MAX_SUPPORTED_MS)) {
    throw new SchedulingError(
      SchedulingErrorCode.INSTANT_OUT_OF_RANGE,
      `${what} must lie between the years 1800 and 2299`,
      { [what]: ms },
    );
  }
}

/** `2026-03-08T07:00:00.000Z`. */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString();
}

const pad2 = (value: number) => (value < 10 ? `0${value}` : String(value));

/** Minutes after local midnight of an `HH:MM` clock time (00:00–23:59), or undefined when malformed. */
export function parseClockTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

export function formatClockTime(minutes: number): string {
  return `${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` calendar date, or undefined when it is not a real date. */
export function parseLocalDate(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const wall = Date.UTC(year, month - 1, day);
  const check = new Date(wall);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    return undefined;
  }
  return wall / DAY_MS;
}

/** `YYYY-MM-DD` of a day number (days since 1970-01-01); plain arithmetic, it runs once per window. */
export function formatLocalDate(dayNumber: number): string {
  const { year, month, day } = civilFromDays(dayNumber);
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

/** Proleptic Gregorian year, month (1–12) and day of a day number (H. Hinnant's days-to-civil algorithm). */
export function civilFromDays(dayNumber: number): { year: number; month: number; day: number } {
  const z = dayNumber + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shifted = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shifted + 2) / 5) + 1;
  const month = shifted < 10 ? shifted + 3 : shifted - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** 0 = Sunday … 6 = Saturday, for a day number. */
export function weekdayOfDay(dayNumber: number): number {
  return (((dayNumber + 4) % 7) + 7) % 7;
}

/** `2026-03-08T03:00:00-04:00`: a wall time with the offset in force (seconds shown only for old local mean times). */
export function formatWallTime(wallMs: number, offsetMs: number): string {
  const text = new Date(wallMs).toISOString().slice(0, 19);
  const sign = offsetMs < 0 ? '-' : '+';
  const total = Math.abs(offsetMs) / SECOND_MS;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return `${text}${sign}${pad2(hours)}:${pad2(minutes)}${seconds ? `:${pad2(seconds)}` : ''}`;
}
