/**
 * The only SQL of job progress: what an agent reports on `jobs/progress`, checked against the job it names and
 * applied to it (state, reason, step, firmware read back), with every report kept in the job's history.
 * Used by ingest inside the transaction that commits the agent's message, so a report is applied exactly once.
 */
import { Injectable } from '@nestjs/common';
import type { JobProgressBody, JobRefuseReason } from '@medfleet/contracts';
import type { TenantTx } from '../../database/tenant-db.js';

export interface ProgressTarget {
  jobId: string;
  attempt: number;
  state: string;
}

/** Why a report cannot be applied: it is dead-lettered with this reason. */
export interface ProgressRefusal {
  reason: 'UNKNOWN_JOB' | 'JOB_AGENT_MISMATCH';
  detail: string;
}

/** Refusals after which the same order may run later: the job waits for its next dispatch. */
const DEFERRING_REFUSALS: readonly JobRefuseReason[] = [
  'OUTSIDE_WINDOW',
  'EXPIRED',
  'UNKNOWN_KEY',
  'JOB_IN_PROGRESS',
];

/** The job state a report moves a dispatched or running job to (null: no change). */
export function stateAfter(body: JobProgressBody): 'running' | 'succeeded' | 'failed' | 'deferred' | null {
  switch (body.state) {
    case 'accepted':
      return null;
    case 'running':
    case 'waiting_manual':
      return 'running';
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'deferred':
      return 'deferred';
    case 'refused':
      if (body.reason === 'SUPERSEDED') return null;
      if (body.reason === 'ALREADY_SUCCEEDED') return 'succeeded';
      return DEFERRING_REFUSALS.includes(body.reason) ? 'deferred' : 'failed';
  }
}

@Injectable()
export class JobProgressRepository {
  /**
   * The job a report is about, locked; or why the report is not the agent's to make: a job of another tenant is
   * invisible here (row-level security), so it is unknown like one that does not exist.
   */
  async lockTarget(
    tx: TenantTx,
    address: { tenantId: string; agentId: string },
    body: JobProgressBody,
  ): Promise<ProgressTarget | ProgressRefusal> {
    const rows = (await tx.db.query(
      `SELECT id, campaign_id, agent_id, attempt, state FROM patch_jobs
        WHERE tenant_id = $1 AND id = $2 AND tenant_id = ANY($3::uuid[]) FOR UPDATE`,
      [address.tenantId, body.jobId, tx.tenantIds],
    )) as { id: string; campaign_id: string; agent_id: string | null; attempt: number; state: string }[];
    const row = rows[0];
    if (!row || (body.campaignId !== undefined && body.campaignId !== row.campaign_id)) {
      return { reason: 'UNKNOWN_JOB', detail: `no job ${body.jobId} of this tenant` };
    }
    if (row.agent_id !== address.agentId) {
      return {
        reason: 'JOB_AGENT_MISMATCH',
        detail: `job ${body.jobId} was not dispatched to agent ${address.agentId}`,
      };
    }
    return { jobId: row.id, attempt: row.attempt, state: row.state };
  }

  /**
   * Records the report in the job's history and, when it is about the current attempt of a job still in
   * progress, moves the job. Resolves to the job's new state, or null when it did not change.
   */
  async apply(
    tx: TenantTx,
    tenantId: string,
    target: ProgressTarget,
    seq: number,
    body: JobProgressBody,
  ): Promise<string | null> {
    const attempt = body.attempt ?? target.attempt;
    const reason = 'reason' in body ? body.reason : null;
    const step = 'step' in body ? (body.step ?? null) : null;
    const firmwareVersion = 'firmwareVersion' in body ? (body.firmwareVersion ?? null) : null;
    const detail = 'detail' in body ? body.detail : null;
    await tx.db.query(
      `INSERT INTO patch_job_events (tenant_id, job_id, attempt, source, agent_seq, state, reason, step,
                                     firmware_version, detail, occurred_at)
       VALUES ($1, $2, $3, 'agent', $4, $5, $6, $7, $8, $9, $10)`,
      [tenantId, target.jobId, attempt, seq, body.state, reason, step, firmwareVersion, detail, body.at],
    );
    const next = stateAfter(body);
    // A report of an earlier attempt, or one after the job ended, is history only.
    if (attempt !== target.attempt || !['dispatched', 'running'].includes(target.state)) return null;
    const result = {
      agentState: body.state,
      ...(reason ? { reason } : {}),
      ...(step ? { step } : {}),
      ...(firmwareVersion ? { firmwareVersion } : {}),
      ...(detail ? { detail } : {}),
      at: body.at,
    };
    if (next === null || next === target.state) {
      await tx.db.query(
        `UPDATE patch_jobs SET last_progress_at = $3, result = $4 WHERE tenant_id = $1 AND id = $2`,
        [tenantId, target.jobId, body.at, JSON.stringify(result)],
      );
      return null;
    }
    const final = next !== 'running';
    await tx.db.query(
      `UPDATE patch_jobs
          SET state = $3::patch_job_state, state_changed_at = now(), last_progress_at = $4, result = $5,
              started_at = CASE WHEN $3 = 'running' THEN coalesce(started_at, $4::timestamptz) ELSE started_at END,
              finished_at = CASE WHEN $6 THEN $4::timestamptz ELSE finished_at END
        WHERE tenant_id = $1 AND id = $2`,
      [tenantId, target.jobId, next, body.at, JSON.stringify(result), final],
    );
    return next;
  }
}
