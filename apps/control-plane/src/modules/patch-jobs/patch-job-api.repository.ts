/**
 * The SQL behind the patch-job API: jobs with their device, site and campaign, a job's history, and a technician's
 * confirmation of a manual procedure. (Persisting a campaign's plan is the campaigns module's PatchJobRepository.)
 */
import { Injectable } from '@nestjs/common';
import type { TenantTx } from '../../database/tenant-db.js';
import type { PatchJobState } from './patch-job.dto.js';

/** A manual procedure as the campaign stores it (the validated ProcedureDto). */
export interface StoredProcedure {
  title: string;
  steps: string[];
  version?: string;
}

/** The agent state that makes a running job a technician's to finish. */
export const WAITING_MANUAL = 'waiting_manual';

export interface PatchJobRow {
  id: string;
  tenantId: string;
  state: PatchJobState;
  /** The state of the agent's last report (`result.agentState`), null before any. */
  agentState: string | null;
  attempt: number;
  wave: number;
  rollovers: number;
  agentId: string | null;
  night: string;
  plannedStart: Date;
  plannedEnd: Date;
  windowStart: Date;
  windowEnd: Date;
  deadline: Date | null;
  stateChangedAt: Date;
  dispatchedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  lastProgressAt: Date | null;
  result: Record<string, unknown> | null;
  campaignId: string;
  campaignName: string;
  campaignState: string;
  procedure: StoredProcedure | null;
  artifactVersion: string | null;
  siteId: string;
  siteName: string;
  timeZone: string;
  deviceId: string;
  deviceVendor: string | null;
  deviceModel: string | null;
  deviceFirmwareVersion: string | null;
  deviceMac: string;
  deviceIp: string | null;
  deviceSerial: string | null;
  deviceCategory: string;
}

/** The job row as locked for a change: what decides whether the change may happen. */
export interface LockedJob {
  tenantId: string;
  id: string;
  state: PatchJobState;
  agentState: string | null;
  attempt: number;
}

/** A job as locked for an operator's action (retry, cancel): what decides it, and where it runs. */
export interface OperatorJob {
  tenantId: string;
  id: string;
  state: PatchJobState;
  attempt: number;
  wave: number;
  rollovers: number;
  plannedStart: Date;
  plannedEnd: Date;
  /** Deferred and held for an operator (no slot under the campaign's catch-up policy). */
  held: boolean;
  heldReason: string | null;
  campaignState: string;
  siteId: string;
  county: string | null;
  timeZone: string;
}

export interface JobEventRow {
  id: number;
  attempt: number;
  source: string;
  agentSeq: number | null;
  state: string;
  reason: string | null;
  step: string | null;
  firmwareVersion: string | null;
  detail: string | null;
  occurredAt: Date;
  recordedAt: Date;
}

export interface PatchJobFilter {
  tenantId?: string;
  siteId?: string;
  campaignId?: string;
  state?: PatchJobState;
  waitingManual?: boolean;
  after: string | null;
  limit: number;
}

export interface TechnicianReport {
  state: 'succeeded' | 'failed';
  reason: string | null;
  firmwareVersion: string | null;
  note: string | null;
  result: Record<string, unknown>;
  at: Date;
}

const JOB_COLUMNS = `j.id, j.tenant_id AS "tenantId", j.state::text AS state, j.result->>'agentState' AS "agentState",
  j.attempt, j.wave, j.rollovers, j.agent_id AS "agentId", j.window_local_date::text AS night,
  j.planned_start AS "plannedStart", j.planned_end AS "plannedEnd", j.window_start AS "windowStart",
  j.window_end AS "windowEnd", j.deadline, j.state_changed_at AS "stateChangedAt", j.dispatched_at AS "dispatchedAt",
  j.started_at AS "startedAt", j.finished_at AS "finishedAt", j.last_progress_at AS "lastProgressAt", j.result,
  c.id AS "campaignId", c.name AS "campaignName", c.state AS "campaignState", c.procedure,
  c.artifact->>'version' AS "artifactVersion",
  s.id AS "siteId", s.name AS "siteName", s.time_zone AS "timeZone",
  d.id AS "deviceId", d.vendor AS "deviceVendor", d.model AS "deviceModel",
  d.firmware_version AS "deviceFirmwareVersion", d.mac::text AS "deviceMac", host(d.ip) AS "deviceIp",
  d.serial AS "deviceSerial", d.category AS "deviceCategory"`;

// The campaign is read under its own row security: a job's tenant is always one of its campaign's tenants, so
// whoever sees the job sees the campaign.
const JOB_FROM = `patch_jobs j
  JOIN campaigns c ON c.id = j.campaign_id
  JOIN sites s ON s.tenant_id = j.tenant_id AND s.id = j.site_id
  JOIN devices d ON d.tenant_id = j.tenant_id AND d.id = j.device_id`;

const WAITING_MANUAL_SQL = `(j.state = 'running' AND j.result->>'agentState' = '${WAITING_MANUAL}')`;

@Injectable()
export class PatchJobApiRepository {
  /** The transaction's jobs in id order, one page, with optional filters. */
  async list(tx: TenantTx, filter: PatchJobFilter): Promise<PatchJobRow[]> {
    const params: unknown[] = [tx.tenantIds];
    let where = 'j.tenant_id = ANY ($1::uuid[])';
    for (const [column, value, cast] of [
      ['j.tenant_id =', filter.tenantId, 'uuid'],
      ['j.site_id =', filter.siteId, 'uuid'],
      ['j.campaign_id =', filter.campaignId, 'uuid'],
      ['j.state =', filter.state, 'patch_job_state'],
      ['j.id >', filter.after, 'uuid'],
    ] as const) {
      if (value === undefined || value === null) continue;
      params.push(value);
      where += ` AND ${column} $${params.length}::${cast}`;
    }
    if (filter.waitingManual === true) where += ` AND ${WAITING_MANUAL_SQL}`;
    if (filter.waitingManual === false) where += ` AND NOT coalesce(${WAITING_MANUAL_SQL}, false)`;
    params.push(filter.limit);
    return (await tx.db.query(
      `SELECT ${JOB_COLUMNS} FROM ${JOB_FROM} WHERE ${where} ORDER BY j.id LIMIT $${params.length}`,
      params,
    )) as PatchJobRow[];
  }

  async find(tx: TenantTx, id: string): Promise<PatchJobRow | null> {
    const rows = (await tx.db.query(
      `SELECT ${JOB_COLUMNS} FROM ${JOB_FROM} WHERE j.tenant_id = ANY ($1::uuid[]) AND j.id = $2`,
      [tx.tenantIds, id],
    )) as PatchJobRow[];
    return rows[0] ?? null;
  }

  /**
   * Locks the job's row for the rest of the transaction: a concurrent confirmation (or the dispatcher, or an
   * agent's report) waits, then reads what this one wrote.
   */
  async lock(tx: TenantTx, id: string): Promise<LockedJob | null> {
    const rows = (await tx.db.query(
      `SELECT tenant_id AS "tenantId", id, state::text AS state, result->>'agentState' AS "agentState", attempt
         FROM patch_jobs WHERE tenant_id = ANY ($1::uuid[]) AND id = $2 FOR UPDATE`,
      [tx.tenantIds, id],
    )) as LockedJob[];
    return rows[0] ?? null;
  }

  /** Locks a job for an operator's action; the campaign and site are read with it. */
  async lockForOperator(tx: TenantTx, id: string): Promise<OperatorJob | null> {
    const rows = (await tx.db.query(
      `SELECT j.tenant_id AS "tenantId", j.id, j.state::text AS state, j.attempt, j.wave, j.rollovers,
              j.planned_start AS "plannedStart", j.planned_end AS "plannedEnd",
              coalesce(j.result ? 'unplaced', false) AS held, j.result->'unplaced'->>'reason' AS "heldReason",
              c.state AS "campaignState", s.id AS "siteId", s.county, s.time_zone AS "timeZone"
         FROM patch_jobs j
         JOIN campaigns c ON c.id = j.campaign_id
         JOIN sites s ON s.tenant_id = j.tenant_id AND s.id = j.site_id
        WHERE j.tenant_id = ANY ($1::uuid[]) AND j.id = $2
        FOR UPDATE OF j`,
      [tx.tenantIds, id],
    )) as OperatorJob[];
    return rows[0] ?? null;
  }

  /** A held job moved back into the plan is held no more; its history says who moved it. */
  async markReplanned(tx: TenantTx, job: OperatorJob, by: string, at: Date): Promise<void> {
    await tx.db.query(`UPDATE patch_jobs SET result = result - 'unplaced' WHERE tenant_id = $1 AND id = $2`, [
      job.tenantId,
      job.id,
    ]);
    await this.operatorEvent(tx, job, 'planned', 'OPERATOR_RETRY', `put back in the plan by ${by}`, at);
  }

  /** Cancels a job not handed to an agent; its history says who did and why. */
  async cancel(tx: TenantTx, job: OperatorJob, by: string, note: string | null, at: Date): Promise<void> {
    await tx.db.query(
      `UPDATE patch_jobs SET state = 'cancelled', state_changed_at = $3, finished_at = $3,
              result = coalesce(result, '{}'::jsonb) || jsonb_build_object('cancelledBy', $4::text, 'note', $5::text)
        WHERE tenant_id = $1 AND id = $2`,
      [job.tenantId, job.id, at, by, note],
    );
    await this.operatorEvent(tx, job, 'cancelled', 'OPERATOR_CANCEL', note ?? `cancelled by ${by}`, at);
  }

  private async operatorEvent(
    tx: TenantTx,
    job: OperatorJob,
    state: string,
    reason: string,
    detail: string,
    at: Date,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO patch_job_events (tenant_id, job_id, attempt, source, state, reason, detail, occurred_at)
       VALUES ($1, $2, $3, 'technician', $4, $5, $6, $7)`,
      [job.tenantId, job.id, job.attempt, state, reason, detail, at],
    );
  }

  /** A job's history (dispatcher decisions, agent reports, technician confirmations) in the order recorded. */
  async history(
    tx: TenantTx,
    job: { tenantId: string; id: string },
    after: string | null,
    limit: number,
  ): Promise<JobEventRow[]> {
    const rows = (await tx.db.query(
      `SELECT id, attempt, source, agent_seq AS "agentSeq", state, reason, step, firmware_version AS "firmwareVersion",
              detail, occurred_at AS "occurredAt", recorded_at AS "recordedAt"
         FROM patch_job_events
        WHERE tenant_id = $1 AND job_id = $2 AND tenant_id = ANY ($3::uuid[]) AND ($4::bigint IS NULL OR id > $4)
        ORDER BY id LIMIT $5`,
      [job.tenantId, job.id, tx.tenantIds, after, limit],
    )) as (Omit<JobEventRow, 'id' | 'agentSeq'> & { id: string; agentSeq: string | null })[];
    return rows.map((row) => ({
      ...row,
      id: Number(row.id),
      agentSeq: row.agentSeq === null ? null : Number(row.agentSeq),
    }));
  }

  /** Ends a locked job as the technician reported it, and keeps the report in its history. */
  async recordTechnicianReport(tx: TenantTx, job: LockedJob, report: TechnicianReport): Promise<void> {
    await tx.db.query(
      `UPDATE patch_jobs SET state = $3::patch_job_state, state_changed_at = $4, finished_at = $4, result = $5
        WHERE tenant_id = $1 AND id = $2`,
      [job.tenantId, job.id, report.state, report.at, JSON.stringify(report.result)],
    );
    await tx.db.query(
      `INSERT INTO patch_job_events (tenant_id, job_id, attempt, source, state, reason, firmware_version, detail,
                                     occurred_at)
       VALUES ($1, $2, $3, 'technician', $4, $5, $6, $7, $8)`,
      [
        job.tenantId,
        job.id,
        job.attempt,
        report.state,
        report.reason,
        report.firmwareVersion,
        report.note,
        report.at,
      ],
    );
  }
}
