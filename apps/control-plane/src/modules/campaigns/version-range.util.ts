/** Firmware ranges of campaign targets, compared with the contracts' version order. */

import { compareVersions } from '@medfleet/contracts';

export { compareVersions };

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
