import { describe, expect, it } from 'vitest';
import { compareVersions, inFirmwareRange } from './version-range.util.js';

describe('compareVersions', () => {
  it('compares dotted numbers numerically and the rest as text', () => {
    expect(compareVersions('12.10.0', '12.9.4')).toBeGreaterThan(0);
    expect(compareVersions('12.1', '12.1.0')).toBeLessThan(0);
    expect(compareVersions('3.2.1', '3.2.1')).toBe(0);
    expect(compareVersions('2.0-beta', '2.0-rc')).toBeLessThan(0);
  });
});

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
