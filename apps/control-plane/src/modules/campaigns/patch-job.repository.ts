/**
 * The only SQL of patch jobs. Persisting a plan is a bulk write: rows go in batches as columnar arrays through
 * one `INSERT … SELECT FROM unnest(…)` per batch (one statement and one round trip per batch, no per-row
 * parameters), inside the caller's transaction. The benchmark (bench/plan-persist.bench.ts) uses this code too.
 */
import { Injectable } from '@nestjs/common';
import { plannedJobRow, type PlannedJob } from '@medfleet/scheduling';

/** What runs SQL: a TypeORM EntityManager or a pg client. */
export interface SqlRunner {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/** A planned job and the device it patches (the planner's job id is the device id). */
export interface PersistableJob {
  readonly tenantId: string;
  readonly planned: PlannedJob;
}

export const PERSIST_BATCH_SIZE = 25_000;

const INSERT_PLANNED = `
  INSERT INTO patch_jobs (tenant_id, campaign_id, device_id, site_id, wave, window_local_date, planned_start,
                          planned_end, window_start, window_end)
  SELECT tenant_id, $1, device_id, site_id, wave, window_local_date, planned_start, planned_end, window_start,
         window_end
    FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::date[], $7::timestamptz[], $8::timestamptz[],
                $9::timestamptz[], $10::timestamptz[])
      AS job (tenant_id, device_id, site_id, wave, window_local_date, planned_start, planned_end, window_start,
              window_end)`;

export interface JobView {
  id: string;
  tenantId: string;
  siteId: string;
  deviceId: string;
  wave: number;
  state: string;
  night: string;
  plannedStart: Date;
  plannedEnd: Date;
  windowStart: Date;
  windowEnd: Date;
  rollovers: number;
  stateChangedAt: Date;
}

export interface JobFilter {
  state?: string;
  siteId?: string;
  wave?: number;
  after: string | null;
  limit: number;
}

export interface JobCount {
  tenantId: string;
  siteId: string;
  wave: number;
  state: string;
  count: number;
}

@Injectable()
export class PatchJobRepository {
  /** Inserts the planned jobs of a campaign (state `planned`); returns how many rows were written. */
  async insertPlanned(
    db: SqlRunner,
    campaignId: string,
    jobs: readonly PersistableJob[],
    batchSize = PERSIST_BATCH_SIZE,
  ): Promise<number> {
    let written = 0;
    for (let offset = 0; offset < jobs.length; offset += batchSize) {
      const batch = jobs.slice(offset, offset + batchSize);
      const columns: unknown[][] = [[], [], [], [], [], [], [], [], []];
      for (const job of batch) {
        const [deviceId, siteId, wave, localDate, start, end, windowStart, windowEnd] = plannedJobRow(
          job.planned,
        );
        columns[0]?.push(job.tenantId);
        columns[1]?.push(deviceId);
        columns[2]?.push(siteId);
        columns[3]?.push(wave);
        columns[4]?.push(localDate);
        columns[5]?.push(start);
        columns[6]?.push(end);
        columns[7]?.push(windowStart);
        columns[8]?.push(windowEnd);
      }
      await db.query(INSERT_PLANNED, [campaignId, ...columns]);
      written += batch.length;
    }
    return written;
  }

  /** Job counts by tenant, site, wave and state (what the progress view aggregates). */
  async counts(db: SqlRunner, tenantIds: readonly string[], campaignId: string): Promise<JobCount[]> {
    const rows = (await db.query(
      `SELECT tenant_id AS "tenantId", site_id AS "siteId", wave, state::text AS state, count(*)::int AS count
         FROM patch_jobs WHERE tenant_id = ANY ($1::uuid[]) AND campaign_id = $2
        GROUP BY tenant_id, site_id, wave, state`,
      [tenantIds, campaignId],
    )) as JobCount[];
    return rows;
  }

  /** A campaign's jobs in id order, one page, with optional filters. */
  async list(
    db: SqlRunner,
    tenantIds: readonly string[],
    campaignId: string,
    filter: JobFilter,
  ): Promise<JobView[]> {
    const params: unknown[] = [tenantIds, campaignId];
    let where = 'tenant_id = ANY ($1::uuid[]) AND campaign_id = $2';
    for (const [column, value, cast] of [
      ['state', filter.state, 'patch_job_state'],
      ['site_id', filter.siteId, 'uuid'],
      ['wave', filter.wave, 'int'],
      ['id >', filter.after, 'uuid'],
    ] as const) {
      if (value === undefined || value === null) continue;
      params.push(value);
      where += column.endsWith('>')
        ? ` AND ${column} $${params.length}::${cast}`
        : ` AND ${column} = $${params.length}::${cast}`;
    }
    params.push(filter.limit);
    return (await db.query(
      `SELECT id, tenant_id AS "tenantId", site_id AS "siteId", device_id AS "deviceId", wave, state::text AS state,
              window_local_date::text AS night, planned_start AS "plannedStart", planned_end AS "plannedEnd",
              window_start AS "windowStart", window_end AS "windowEnd", rollovers, state_changed_at AS "stateChangedAt"
         FROM patch_jobs WHERE ${where} ORDER BY id LIMIT $${params.length}`,
      params,
    )) as JobView[];
  }

  /** Cancels the jobs that have not started (planned or deferred); returns how many. */
  async cancelOpen(db: SqlRunner, tenantIds: readonly string[], campaignId: string): Promise<number> {
    const rows = (await db.query(
      `WITH cancelled AS (
         UPDATE patch_jobs SET state = 'cancelled', state_changed_at = now()
          WHERE tenant_id = ANY ($1::uuid[]) AND campaign_id = $2 AND state IN ('planned', 'deferred')
          RETURNING 1)
       SELECT count(*)::int AS n FROM cancelled`,
      [tenantIds, campaignId],
    )) as { n: number }[];
    return rows[0]?.n ?? 0;
  }
}
