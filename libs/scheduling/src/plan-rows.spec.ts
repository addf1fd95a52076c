import { describe, expect, it } from 'vitest';
import { PLANNED_JOB_COLUMNS, plannedJobRow } from './plan-rows.js';

describe('plannedJobRow', () => {
  it('lists the values in column order with UTC times', () => {
    const row = plannedJobRow({
      jobId: 'j1',
      siteId: 's1',
      wave: 2,
      windowLocalDate: '2026-03-07',
      startMs: Date.UTC(2026, 2, 8, 3),
      endMs: Date.UTC(2026, 2, 8, 4, 30),
      windowStartMs: Date.UTC(2026, 2, 8, 3),
      windowEndMs: Date.UTC(2026, 2, 8, 9),
    });
    expect(row).toHaveLength(PLANNED_JOB_COLUMNS.length);
    expect(row).toEqual([
      'j1',
      's1',
      2,
      '2026-03-07',
      '2026-03-08T03:00:00.000Z',
      '2026-03-08T04:30:00.000Z',
      '2026-03-08T03:00:00.000Z',
      '2026-03-08T09:00:00.000Z',
    ]);
  });
});
