import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/app-config.js';
import { yearsBefore } from './audit-maintenance.js';

describe('audit retention configuration', () => {
  it('keeps six years by default', () => {
    expect(loadConfig({}).AUDIT_RETENTION_YEARS).toBe(6);
    expect(loadConfig({ AUDIT_RETENTION_YEARS: '10' }).AUDIT_RETENTION_YEARS).toBe(10);
  });

  it.each(['5', '0', '-6', 'six'])(
    'refuses AUDIT_RETENTION_YEARS=%s at startup, naming the variable',
    (value) => {
      let error: unknown;
      try {
        loadConfig({ AUDIT_RETENTION_YEARS: value });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((problem) => problem.variable)).toEqual([
        'AUDIT_RETENTION_YEARS',
      ]);
    },
  );

  it('cuts off at the same calendar instant the retention period earlier', () => {
    expect(yearsBefore(new Date('2032-06-15T12:00:00.000Z'), 6).toISOString()).toBe(
      '2026-06-15T12:00:00.000Z',
    );
  });
});
