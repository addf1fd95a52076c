// The hand-over to persistence: a planned job as one row of values, in a fixed column order for COPY or INSERT.
import type { PlannedJob } from './patch-plan.types.js';
import { formatUtc } from './time.js';

/** Column order of plannedJobRow; times are ISO-8601 UTC strings, which PostgreSQL reads as timestamptz. */
export const PLANNED_JOB_COLUMNS = [
  'job_id',
  'site_id',
  'wave',
  'window_local_date',
  'planned_start',
  'planned_end',
  'window_start',
  'window_end',
] as const;

export type PlannedJobRow = [string, string, number, string, string, string, string, string];

export function plannedJobRow(job: PlannedJob): PlannedJobRow {
  return [
    job.jobId,
    job.siteId,
    job.wave,
    job.windowLocalDate,
    formatUtc(job.startMs),
    formatUtc(job.endMs),
    formatUtc(job.windowStartMs),
    formatUtc(job.windowEndMs),
  ];
}
