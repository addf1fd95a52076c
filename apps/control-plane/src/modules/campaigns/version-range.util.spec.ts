import { describe, expect, it } from 'vitest';
import { inFirmwareRange } from './version-range.util.js';

describe('inFirmwareRange', () => {
  it('includes the minimum and excludes the maximum', () => {
    const range = { min: '12.0', max: '12.3' };
    expect(inFirmwareRange('12.0', range)).toBe(true);
    expect(inFirmwareRange('12.2.9', range)).toBe(true);
    expect(inFirmwareRange('12.3', range)).toBe(false);
    expect(inFirmwareRange('11.9', range)).toBe(false);
  });

  it('matches an unknown version only when the range is open', () => {
    expect(inFirmwareRange(null, undefined)).toBe(true);
    expect(inFirmwareRange(null, { max: '2' })).toBe(false);
  });
});
