/** The only SQL of agent alerts: the silence sweep's candidates, opening alerts, and listing them. */
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { TenantTx } from '../../database/tenant-db.js';
import { thresholdSql, type SilenceRule } from '../agents/agent-status.js';

export interface AlertRow {
  id: string;
  tenant_id: string;
  site_id: string;
  agent_id: string;
  kind: string;
  opened_at: Date;
  resolved_at: Date | null;
  last_seen_at: Date | null;
  silence_threshold_sec: number;
}

export interface AlertFilter {
  tenantId?: string;
  siteId?: string;
  agentId?: string;
  state?: 'open' | 'resolved';
  after?: { openedAt: Date; id: string } | null;
  limit: number;
}

/**
 * Silent without an open alert: approved, not revoked, and nothing heard (since enrollment, if never) for
 * longer than the rule allows; `intervals` and `grace` name the rule's query parameters.
 */
function silentSql(intervals: string, grace: string): string {
  return `a.revoked_at IS NULL AND a.approval_state = 'approved'
    AND coalesce(a.last_seen_at, a.enrolled_at) < now() - (${thresholdSql(intervals, grace)})
    AND NOT EXISTS (SELECT 1 FROM agent_alerts x
                     WHERE x.tenant_id = a.tenant_id AND x.agent_id = a.id AND x.kind = 'agent_silent'
                       AND x.resolved_at IS NULL)`;
}

@Injectable()
export class AlertRepository {
  /**
   * Tenants with a silent agent that has no open alert yet, across all tenants: the one cross-tenant read,
   * allowed by the sweep's own row-level policy, and returning tenant ids only.
   */
  async tenantsWithNewSilence(db: EntityManager, rule: SilenceRule): Promise<string[]> {
    await db.query(`SELECT set_config('medfleet.silence_sweep', 'on', true)`);
    const rows = (await db.query(`SELECT DISTINCT a.tenant_id FROM agents a WHERE ${silentSql('$1', '$2')}`, [
      rule.intervals,
      rule.graceSec,
    ])) as { tenant_id: string }[];
    return rows.map((row) => row.tenant_id);
  }

  /**
   * Opens a silence alert for each silent agent of the tenant that has none. Agents whose row is locked
   * (a message being committed right now, or another replica's sweep) are skipped; the unique index on open
   * alerts makes a concurrent duplicate a no-op.
   */
  async openSilenceAlerts(tx: TenantTx, tenantId: string, rule: SilenceRule): Promise<AlertRow[]> {
    return (await tx.db.query(
      `WITH silent AS (
         SELECT a.tenant_id, a.id, a.site_id, a.last_seen_at,
                $2::integer * a.health_interval_sec + $3::integer AS threshold
           FROM agents a
          WHERE a.tenant_id = $1 AND a.tenant_id = ANY($4::uuid[]) AND ${silentSql('$2', '$3')}
          FOR UPDATE OF a SKIP LOCKED
       )
       INSERT INTO agent_alerts (tenant_id, agent_id, site_id, kind, last_seen_at, silence_threshold_sec)
       SELECT tenant_id, id, site_id, 'agent_silent', last_seen_at, threshold FROM silent
       ON CONFLICT DO NOTHING
       RETURNING id, tenant_id, site_id, agent_id, kind, opened_at, resolved_at, last_seen_at, silence_threshold_sec`,
      [tenantId, rule.intervals, rule.graceSec, tx.tenantIds],
    )) as AlertRow[];
  }

  /** Newest first, keyset-paged by (opened_at, id). */
  async list(tx: TenantTx, filter: AlertFilter): Promise<AlertRow[]> {
    return (await tx.db.query(
      `SELECT id, tenant_id, site_id, agent_id, kind, opened_at, resolved_at, last_seen_at, silence_threshold_sec
         FROM agent_alerts
        WHERE tenant_id = ANY($1::uuid[])
          AND ($2::uuid IS NULL OR tenant_id = $2)
          AND ($3::uuid IS NULL OR site_id = $3)
          AND ($4::uuid IS NULL OR agent_id = $4)
          AND ($5::text IS NULL OR ($5 = 'open') = (resolved_at IS NULL))
          AND ($6::timestamptz IS NULL OR (opened_at, id) < ($6, $7::uuid))
        ORDER BY opened_at DESC, id DESC
        LIMIT $8`,
      [
        tx.tenantIds,
        filter.tenantId ?? null,
        filter.siteId ?? null,
        filter.agentId ?? null,
        filter.state ?? null,
        filter.after?.openedAt ?? null,
        filter.after?.id ?? null,
        filter.limit,
      ],
    )) as AlertRow[];
  }
}
