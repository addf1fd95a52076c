/** The only SQL of maintenance policies, blackouts and the calendar's jobs. */
import { Injectable } from '@nestjs/common';
import type { Blackout, MaintenancePolicy } from '@medfleet/scheduling';
import type { TenantTx } from '../../database/tenant-db.js';

export interface StoredPolicy {
  tenantId: string;
  siteId: string;
  policy: MaintenancePolicy;
  updatedBy: string;
  updatedAt: Date;
}

export type BlackoutLevel = 'organization' | 'county' | 'site';

/** A blackout as stored, whoever declared it. */
export interface BlackoutRecord {
  id: string;
  scope: BlackoutLevel;
  organizationId: string | null;
  tenantId: string | null;
  siteId: string | null;
  county: string | null;
  kind: 'interval' | 'local-dates';
  start: string | null;
  end: string | null;
  firstDate: string | null;
  lastDate: string | null;
  reason: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface BlackoutPeriod {
  kind: 'interval' | 'local-dates';
  start: string | null;
  end: string | null;
  firstDate: string | null;
  lastDate: string | null;
  reason: string;
}

export interface CalendarJob {
  id: string;
  campaignId: string;
  deviceId: string;
  wave: number;
  state: string;
  plannedStart: Date;
  plannedEnd: Date;
  windowStart: Date;
  windowEnd: Date;
}

const PERIOD_COLUMNS = `kind, to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "start",
  to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "end", first_date::text AS "firstDate",
  last_date::text AS "lastDate", reason, created_by AS "createdBy", created_at AS "createdAt", updated_at AS "updatedAt"`;

const SITE_BLACKOUT = `SELECT id, 'site' AS scope, NULL::uuid AS "organizationId", tenant_id AS "tenantId",
  site_id AS "siteId", NULL::text AS county, ${PERIOD_COLUMNS} FROM site_blackouts`;
const ORGANIZATION_BLACKOUT = `SELECT id, scope, organization_id AS "organizationId", NULL::uuid AS "tenantId",
  NULL::uuid AS "siteId", county, ${PERIOD_COLUMNS} FROM organization_blackouts`;

@Injectable()
export class MaintenanceRepository {
  async policiesOf(tx: TenantTx, siteIds: readonly string[]): Promise<Map<string, StoredPolicy>> {
    const rows = (await tx.db.query(
      `SELECT tenant_id AS "tenantId", site_id AS "siteId", policy, updated_by AS "updatedBy", updated_at AS "updatedAt"
         FROM site_maintenance_policies WHERE tenant_id = ANY ($1::uuid[]) AND site_id = ANY ($2::uuid[])`,
      [tx.tenantIds, siteIds],
    )) as StoredPolicy[];
    return new Map(rows.map((row) => [row.siteId, row]));
  }

  async savePolicy(
    tx: TenantTx,
    tenantId: string,
    siteId: string,
    policy: MaintenancePolicy,
    by: string,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO site_maintenance_policies (tenant_id, site_id, policy, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, site_id) DO UPDATE SET policy = EXCLUDED.policy, updated_by = EXCLUDED.updated_by,
           updated_at = now()`,
      [tenantId, siteId, JSON.stringify(policy), by],
    );
  }

  /** Organization and county blackouts visible to the transaction, optionally only those of one organization. */
  async organizationBlackouts(
    tx: TenantTx,
    options: { organizationId?: string; after?: string | null; limit?: number } = {},
  ): Promise<BlackoutRecord[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (options.organizationId) {
      params.push(options.organizationId);
      where.push(`organization_id = $${params.length}`);
    }
    if (options.after) {
      params.push(options.after);
      where.push(`id > $${params.length}`);
    }
    let sql = `${ORGANIZATION_BLACKOUT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    if (options.limit) {
      params.push(options.limit);
      sql += ` LIMIT $${params.length}`;
    }
    return (await tx.db.query(sql, params)) as BlackoutRecord[];
  }

  async organizationBlackout(tx: TenantTx, id: string): Promise<BlackoutRecord | null> {
    const rows = (await tx.db.query(`${ORGANIZATION_BLACKOUT} WHERE id = $1`, [id])) as BlackoutRecord[];
    return rows[0] ?? null;
  }

  async siteBlackoutsOf(tx: TenantTx, siteIds: readonly string[]): Promise<BlackoutRecord[]> {
    return (await tx.db.query(
      `${SITE_BLACKOUT} WHERE tenant_id = ANY ($1::uuid[]) AND site_id = ANY ($2::uuid[]) ORDER BY id`,
      [tx.tenantIds, siteIds],
    )) as BlackoutRecord[];
  }

  async siteBlackout(tx: TenantTx, id: string): Promise<BlackoutRecord | null> {
    const rows = (await tx.db.query(`${SITE_BLACKOUT} WHERE tenant_id = ANY ($1::uuid[]) AND id = $2`, [
      tx.tenantIds,
      id,
    ])) as BlackoutRecord[];
    return rows[0] ?? null;
  }

  async insertOrganizationBlackout(
    tx: TenantTx,
    row: { organizationId: string; id: string; scope: 'organization' | 'county'; county: string | null },
    period: BlackoutPeriod,
    by: string,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO organization_blackouts (organization_id, id, scope, county, kind, starts_at, ends_at, first_date,
         last_date, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [row.organizationId, row.id, row.scope, row.county, ...periodValues(period), by],
    );
  }

  async insertSiteBlackout(
    tx: TenantTx,
    row: { tenantId: string; id: string; siteId: string },
    period: BlackoutPeriod,
    by: string,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO site_blackouts (tenant_id, id, site_id, kind, starts_at, ends_at, first_date, last_date, reason,
         created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [row.tenantId, row.id, row.siteId, ...periodValues(period), by],
    );
  }

  async updateBlackout(tx: TenantTx, record: BlackoutRecord, period: BlackoutPeriod): Promise<void> {
    const [table, owner, ownerId] =
      record.scope === 'site'
        ? ['site_blackouts', 'tenant_id', record.tenantId]
        : ['organization_blackouts', 'organization_id', record.organizationId];
    await tx.db.query(
      `UPDATE ${table} SET kind = $3, starts_at = $4, ends_at = $5, first_date = $6, last_date = $7, reason = $8,
         updated_at = now() WHERE ${owner} = $1 AND id = $2`,
      [ownerId, record.id, ...periodValues(period)],
    );
  }

  async deleteBlackout(tx: TenantTx, record: BlackoutRecord): Promise<void> {
    if (record.scope === 'site') {
      await tx.db.query(`DELETE FROM site_blackouts WHERE tenant_id = $1 AND id = $2`, [
        record.tenantId,
        record.id,
      ]);
    } else {
      await tx.db.query(`DELETE FROM organization_blackouts WHERE organization_id = $1 AND id = $2`, [
        record.organizationId,
        record.id,
      ]);
    }
  }

  /** The organizations of these tenants (a site sees its own organization's freezes only). */
  async organizationsOf(tx: TenantTx, tenantIds: readonly string[]): Promise<Set<string>> {
    const rows = (await tx.db.query(
      `SELECT DISTINCT organization_id AS id FROM tenants WHERE id = ANY ($1::uuid[])`,
      [[...new Set(tenantIds)]],
    )) as { id: string }[];
    return new Set(rows.map((row) => row.id));
  }

  /** The jobs of a site whose window overlaps [from, to). */
  async jobsAt(tx: TenantTx, tenantId: string, siteId: string, from: Date, to: Date): Promise<CalendarJob[]> {
    return (await tx.db.query(
      `SELECT id, campaign_id AS "campaignId", device_id AS "deviceId", wave, state::text AS state,
              planned_start AS "plannedStart", planned_end AS "plannedEnd", window_start AS "windowStart",
              window_end AS "windowEnd"
         FROM patch_jobs
        WHERE tenant_id = $1 AND site_id = $2 AND window_start < $4 AND window_end > $3
        ORDER BY planned_start, id`,
      [tenantId, siteId, from, to],
    )) as CalendarJob[];
  }
}

function periodValues(period: BlackoutPeriod): unknown[] {
  return [period.kind, period.start, period.end, period.firstDate, period.lastDate, period.reason];
}

/** A stored blackout in the scheduling library's form. */
export function toLibraryBlackout(record: BlackoutRecord): Blackout {
  const scope =
    record.scope === 'organization'
      ? { level: 'organization' as const }
      : record.scope === 'county'
        ? { level: 'county' as const, county: record.county ?? '' }
        : { level: 'site' as const, siteId: record.siteId ?? '' };
  return record.kind === 'interval'
    ? { kind: 'interval', id: record.id, start: record.start ?? '', end: record.end ?? '', scope }
    : {
        kind: 'local-dates',
        id: record.id,
        firstDate: record.firstDate ?? '',
        lastDate: record.lastDate ?? '',
        scope,
      };
}
