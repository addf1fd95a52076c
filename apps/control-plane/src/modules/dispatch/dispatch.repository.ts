/**
 * The only SQL of the dispatcher. Every write runs in a tenant-scoped transaction; only the scan for tenants with
 * work sets `medfleet.dispatch_scan`, which lets it read tenant ids and nothing else across tenants. Sites are
 * claimed with FOR NO KEY UPDATE SKIP LOCKED, so one replica at a time counts a site's running jobs against its
 * concurrency limit, and jobs with FOR UPDATE SKIP LOCKED, so no job is claimed twice.
 */
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { TenantTx } from '../../database/tenant-db.js';
import type { MaintenanceSiteRow } from '../maintenance/maintenance.service.js';

export interface DueJob {
  id: string;
  campaignId: string;
  siteId: string;
  deviceId: string;
  mac: string;
  agentId: string;
  attempt: number;
  windowStart: Date;
  windowEnd: Date;
  artifact: { version: string; sha256: string; sizeBytes: number } | null;
  procedure: { title: string; steps: string[] } | null;
}

export interface JobToMove {
  id: string;
  state: string;
  attempt: number;
  wave: number;
  rollovers: number;
  plannedStart: Date;
  plannedEnd: Date;
  /** Its wave was not released yet. */
  gated: boolean;
  /** Its campaign is paused (by an operator, a gate or the abort threshold). */
  paused: boolean;
  catchUp: { mode: 'same-window' | 'next-window' | 'hold'; maxRollovers?: number };
}

export interface JobEvent {
  jobId: string;
  attempt: number;
  state: string;
  reason?: string | null;
  detail?: string | null;
  occurredAt: Date;
}

type Rows<T> = [T[], number] | T[];
const rowsOf = <T>(result: unknown): T[] => {
  const rows = result as Rows<T>;
  return (Array.isArray(rows[0]) ? rows[0] : rows) as T[];
};

@Injectable()
export class DispatchRepository {
  /** Tenants with jobs whose window has opened and that are not finished (dispatch, or roll over). */
  async tenantsWithWork(db: EntityManager, now: Date): Promise<string[]> {
    await db.query(`SELECT set_config('medfleet.dispatch_scan', 'on', true)`);
    const rows = (await db.query(
      `SELECT DISTINCT tenant_id FROM patch_jobs
        WHERE state IN ('planned', 'dispatched', 'running', 'deferred') AND window_start <= $1`,
      [now],
    )) as { tenant_id: string }[];
    return rows.map((row) => row.tenant_id);
  }

  /**
   * Tenants with approved, unrevoked agents whose desired config does not carry the signing key, or whose copy of
   * the site's maintenance policy is behind the site's revision.
   */
  async tenantsWithStaleConfig(db: EntityManager, keyId: string): Promise<string[]> {
    await db.query(`SELECT set_config('medfleet.dispatch_scan', 'on', true)`);
    const rows = (await db.query(
      `SELECT DISTINCT a.tenant_id FROM agents a JOIN sites s ON s.tenant_id = a.tenant_id AND s.id = a.site_id
        WHERE a.revoked_at IS NULL AND a.approval_state = 'approved'
          AND (a.work_order_key_id IS DISTINCT FROM $1 OR a.maintenance_rev IS DISTINCT FROM s.maintenance_rev)`,
      [keyId],
    )) as { tenant_id: string }[];
    return rows.map((row) => row.tenant_id);
  }

  /** The tenant's sites with opened work, locked; a site another replica holds is skipped. */
  async claimSites(tx: TenantTx, tenantId: string, now: Date): Promise<MaintenanceSiteRow[]> {
    const rows = (await tx.db.query(
      `SELECT s.id, s.county, s.time_zone FROM sites s
        WHERE s.tenant_id = $1 AND s.tenant_id = ANY($3::uuid[])
          AND s.id IN (SELECT j.site_id FROM patch_jobs j
                        WHERE j.tenant_id = $1 AND j.state IN ('planned', 'dispatched', 'running', 'deferred')
                          AND j.window_start <= $2)
        ORDER BY s.id FOR NO KEY UPDATE OF s SKIP LOCKED`,
      [tenantId, now, tx.tenantIds],
    )) as { id: string; county: string | null; time_zone: string }[];
    return rows.map((row) => ({ tenantId, id: row.id, county: row.county, timeZone: row.time_zone }));
  }

  /**
   * Jobs of the site to move to a later window: not finished although their window ended, or deferred (by the
   * agent, or by an earlier pass) and not held for an operator. Campaigns cancelled or completed are left, and so
   * are jobs waiting for a technician (a manual procedure ends when they confirm it in the API).
   */
  async jobsToMove(tx: TenantTx, tenantId: string, siteId: string, now: Date): Promise<JobToMove[]> {
    return this.lockJobsToMove(
      tx,
      `(j.state IN ('planned', 'dispatched', 'running') AND j.window_end <= $3
          AND coalesce(j.result->>'agentState', '') <> 'waiting_manual')
        OR (j.state = 'deferred' AND NOT coalesce(j.result ? 'unplaced', false))`,
      [tenantId, siteId, now],
    );
  }

  /** Planned jobs of the site whose window is open now: moved when a blackout declared since covers now. */
  async openPlannedJobs(tx: TenantTx, tenantId: string, siteId: string, now: Date): Promise<JobToMove[]> {
    return this.lockJobsToMove(tx, `j.state = 'planned' AND j.window_start <= $3 AND j.window_end > $3`, [
      tenantId,
      siteId,
      now,
    ]);
  }

  private async lockJobsToMove(tx: TenantTx, condition: string, params: unknown[]): Promise<JobToMove[]> {
    const rows = (await tx.db.query(
      `SELECT j.id, j.state, j.attempt, j.wave, j.rollovers, j.planned_start, j.planned_end, c.catch_up,
              j.wave > c.released_wave AS gated, c.state = 'paused' AS paused
         FROM patch_jobs j JOIN campaigns c ON c.id = j.campaign_id AND c.state IN ('running', 'paused')
        WHERE j.tenant_id = $1 AND j.site_id = $2 AND (${condition})
        ORDER BY j.wave, j.planned_start, j.id
        FOR UPDATE OF j SKIP LOCKED`,
      params,
    )) as {
      id: string;
      state: string;
      attempt: number;
      wave: number;
      rollovers: number;
      planned_start: Date;
      planned_end: Date;
      catch_up: JobToMove['catchUp'];
      gated: boolean;
      paused: boolean;
    }[];
    return rows.map((row) => ({
      id: row.id,
      state: row.state,
      attempt: row.attempt,
      wave: row.wave,
      rollovers: row.rollovers,
      plannedStart: row.planned_start,
      plannedEnd: row.planned_end,
      gated: row.gated,
      paused: row.paused,
      catchUp: row.catch_up,
    }));
  }

  /** Planned time of the site's other unfinished jobs from `now` on, so a moved job respects the limit. */
  async busyIntervals(
    tx: TenantTx,
    tenantId: string,
    siteId: string,
    now: Date,
    except: readonly string[],
  ): Promise<{ startMs: number; endMs: number }[]> {
    const rows = (await tx.db.query(
      `SELECT planned_start, planned_end FROM patch_jobs
        WHERE tenant_id = $1 AND site_id = $2 AND state IN ('planned', 'dispatched', 'running')
          AND planned_end > $3 AND NOT (id = ANY($4::uuid[]))`,
      [tenantId, siteId, now, except],
    )) as { planned_start: Date; planned_end: Date }[];
    return rows.map((row) => ({ startMs: row.planned_start.getTime(), endMs: row.planned_end.getTime() }));
  }

  async movePlanned(
    tx: TenantTx,
    tenantId: string,
    jobId: string,
    slot: {
      windowLocalDate: string;
      startMs: number;
      endMs: number;
      windowStartMs: number;
      windowEndMs: number;
    },
    rollovers: number,
  ): Promise<void> {
    await tx.db.query(
      `UPDATE patch_jobs
          SET state = 'planned', state_changed_at = now(), window_local_date = $3, planned_start = $4,
              planned_end = $5, window_start = $6, window_end = $7, rollovers = $8, deadline = NULL
        WHERE tenant_id = $1 AND id = $2`,
      [
        tenantId,
        jobId,
        slot.windowLocalDate,
        new Date(slot.startMs),
        new Date(slot.endMs),
        new Date(slot.windowStartMs),
        new Date(slot.windowEndMs),
        rollovers,
      ],
    );
  }

  /** A job with no later slot (held for an operator, out of rollovers, no window): deferred and marked. */
  async holdDeferred(
    tx: TenantTx,
    tenantId: string,
    jobId: string,
    unplaced: { reason: string; detail: string },
  ): Promise<void> {
    await tx.db.query(
      `UPDATE patch_jobs
          SET state = 'deferred', state_changed_at = now(),
              result = coalesce(result, '{}'::jsonb) || jsonb_build_object('unplaced', $3::jsonb)
        WHERE tenant_id = $1 AND id = $2`,
      [tenantId, jobId, JSON.stringify(unplaced)],
    );
  }

  /** Dispatched or running jobs of the site whose window is still open: they count against the limit. */
  async runningCount(tx: TenantTx, tenantId: string, siteId: string, now: Date): Promise<number> {
    const rows = (await tx.db.query(
      `SELECT count(*)::int AS n FROM patch_jobs
        WHERE tenant_id = $1 AND site_id = $2 AND state IN ('dispatched', 'running') AND window_end > $3`,
      [tenantId, siteId, now],
    )) as { n: number }[];
    return rows[0]?.n ?? 0;
  }

  /**
   * Claims up to `limit` planned jobs of running campaigns, in a released wave, at the site whose window has
   * opened, whose deadline is still ahead and whose slot fits before it: the deadline is `window_end - margin`, or
   * earlier when a blackout declared since the plan starts tonight (`openUntil`, the end of the piece of window
   * left). Each comes with the site's agent that reports its device and runs a config carrying the signing key
   * (an order sent before would be refused as signed by an unknown key). Rows another transaction holds are
   * skipped.
   */
  async claimDue(
    tx: TenantTx,
    tenantId: string,
    siteId: string,
    now: Date,
    marginSec: number,
    keyId: string,
    limit: number,
    openUntil: Date,
  ): Promise<DueJob[]> {
    const rows = (await tx.db.query(
      `SELECT j.id, j.campaign_id, j.site_id, j.device_id, d.mac::text AS mac, a.id AS agent_id, j.attempt,
              j.window_start, j.window_end, c.artifact, c.procedure
         FROM patch_jobs j
         JOIN campaigns c ON c.id = j.campaign_id AND c.state = 'running' AND j.wave <= c.released_wave
         JOIN devices d ON d.tenant_id = j.tenant_id AND d.id = j.device_id
         JOIN agents a ON a.tenant_id = j.tenant_id AND a.id = d.reporting_agent_id AND a.site_id = j.site_id
                      AND a.revoked_at IS NULL AND a.approval_state = 'approved'
         JOIN agent_configs ac ON ac.tenant_id = a.tenant_id AND ac.agent_id = a.id
                              AND ac.version = a.applied_config_version
                              AND ac.config->'workOrderKeys' @> jsonb_build_array(jsonb_build_object('keyId', $5::text))
        WHERE j.tenant_id = $1 AND j.site_id = $2 AND j.state = 'planned' AND j.window_start <= $3
          AND least(j.window_end, $7) - $4 * interval '1 second' > $3
          AND $3::timestamptz + (j.planned_end - j.planned_start) <= least(j.window_end, $7)
        ORDER BY j.wave, j.planned_start, j.id
        LIMIT $6
        FOR UPDATE OF j SKIP LOCKED`,
      [tenantId, siteId, now, marginSec, keyId, limit, openUntil],
    )) as {
      id: string;
      campaign_id: string;
      site_id: string;
      device_id: string;
      mac: string;
      agent_id: string;
      attempt: number;
      window_start: Date;
      window_end: Date;
      artifact: DueJob['artifact'];
      procedure: DueJob['procedure'];
    }[];
    return rows.map((row) => ({
      id: row.id,
      campaignId: row.campaign_id,
      siteId: row.site_id,
      deviceId: row.device_id,
      mac: row.mac,
      agentId: row.agent_id,
      attempt: row.attempt,
      windowStart: row.window_start,
      windowEnd: row.window_end,
      artifact: row.artifact,
      procedure: row.procedure,
    }));
  }

  /** The next downlink seq of the agent (its `cmd/` messages count up together with acks). */
  async nextDownlinkSeq(tx: TenantTx, tenantId: string, agentId: string): Promise<number> {
    const rows = rowsOf<{ downlink_seq: string }>(
      await tx.db.query(
        `UPDATE agents SET downlink_seq = downlink_seq + 1 WHERE tenant_id = $1 AND id = $2 RETURNING downlink_seq`,
        [tenantId, agentId],
      ),
    );
    return Number(rows[0]?.downlink_seq ?? 0);
  }

  async markDispatched(
    tx: TenantTx,
    tenantId: string,
    job: { id: string; agentId: string; attempt: number; workOrderId: string; deadline: Date; at: Date },
  ): Promise<void> {
    await tx.db.query(
      `UPDATE patch_jobs
          SET state = 'dispatched', state_changed_at = now(), dispatched_at = $6, agent_id = $3, attempt = $4,
              work_order_id = $5, deadline = $7, started_at = NULL, finished_at = NULL, result = NULL
        WHERE tenant_id = $1 AND id = $2`,
      [tenantId, job.id, job.agentId, job.attempt, job.workOrderId, job.at, job.deadline],
    );
  }

  async recordEvent(tx: TenantTx, tenantId: string, event: JobEvent): Promise<void> {
    await tx.db.query(
      `INSERT INTO patch_job_events (tenant_id, job_id, attempt, source, state, reason, detail, occurred_at)
       VALUES ($1, $2, $3, 'dispatcher', $4, $5, $6, $7)`,
      [
        tenantId,
        event.jobId,
        event.attempt,
        event.state,
        event.reason ?? null,
        event.detail ?? null,
        event.occurredAt,
      ],
    );
  }
}
