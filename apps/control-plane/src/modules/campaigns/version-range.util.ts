/** Firmware version comparison for campaign targets: dotted numbers compare numerically, other parts as text. */

/** Negative, zero or positive as `a` sorts before, with or after `b` (`12.10.0` after `12.9.4`). */
export function compareVersions(a: string, b: string): number {
  const left = a.trim().split(/[.\-_+ ]/);
  const right = b.trim().split(/[.\-_+ ]/);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const x = left[index];
    const y = right[index];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xNumber = /^\d+$/.test(x) ? Number(x) : NaN;
    const yNumber = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(xNumber) && !Number.isNaN(yNumber)) {
      if (xNumber !== yNumber) return xNumber < yNumber ? -1 : 1;
    } else if (x !== y) {
      return x.localeCompare(y, 'en');
    }
  }
  return 0;
}

export interface FirmwareRange {
  /** Inclusive. */
  min?: string;
  /** Exclusive: the version the campaign installs is usually the bound. */
  max?: string;
}

/** Whether a reported firmware version lies in the range; an unknown version matches only an open range. */
export function inFirmwareRange(version: string | null, range: FirmwareRange | undefined): boolean {
  if (!range || (range.min === undefined && range.max === undefined)) return true;
  if (version === null || version.trim() === '') return false;
  if (range.min !== undefined && compareVersions(version, range.min) < 0) return false;
  if (range.max !== undefined && compareVersions(version, range.max) >= 0) return false;
  return true;
}
