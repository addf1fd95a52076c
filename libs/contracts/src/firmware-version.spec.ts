import { describe, expect, it } from 'vitest';
import { compareVersions } from './firmware-version.js';

describe('compareVersions', () => {
  it('compares dotted numbers numerically and the rest as text', () => {
    expect(compareVersions('12.10.0', '12.9.4')).toBeGreaterThan(0);
    expect(compareVersions('12.1', '12.1.0')).toBeLessThan(0);
    expect(compareVersions('3.2.1', '3.2.1')).toBe(0);
    expect(compareVersions('2.0-beta', '2.0-rc')).toBeLessThan(0);
  });
});
