/** The only SQL of campaigns, their approvals and the practices' delegation settings. */
import { Injectable } from '@nestjs/common';
import type { TenantTx } from '../../database/tenant-db.js';
import type { MaintenanceSiteRow } from '../maintenance/maintenance.service.js';
import type { CampaignState } from './campaign.dto.js';

/** The campaign's definition as stored (JSON columns hold the validated DTO parts). */
export interface CampaignDefinition {
  name: string;
  description: string | null;
  tenantIds: string[];
  siteIds: string[];
  target: { vendor: string; models?: string[]; firmware?: { min?: string; max?: string } };
  artifact: { version: string; sha256: string; signature: string; sizeBytes: number } | null;
  procedure: { title: string; steps: string[]; version?: string } | null;
  waves: {
    canarySiteIds?: string[];
    canaryDeviceIds?: string[];
    percent?: number;
    soakHours?: number;
    successRatePercent: number;
  }[];
  abortPolicy: { failurePercent: number; minExecuted: number };
  catchUp: { mode: 'same-window' | 'next-window' | 'hold'; maxRollovers?: number };
  durations: {
    minutesByModel: Record<string, number>;
    defaultMinutes?: number;
    marginPercent?: number;
    marginMinutes?: number;
  };
  earliestStart: Date | null;
  horizonDays: number;
}

export interface CampaignRow extends CampaignDefinition {
  organizationId: string;
  id: string;
  state: CampaignState;
  revision: number;
  planSummary: unknown;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The highest wave the dispatcher may dispatch (waves after it wait for their gate). */
  releasedWave: number;
  waveReleasedAt: Date | null;
  /** Why a paused campaign is paused: an operator, a wave's failed gate or the abort threshold. */
  pauseReason:
    | ({ code: 'OPERATOR' | 'GATE_FAILED' | 'ABORT_THRESHOLD'; detail: string; at: string } & Record<
        string,
        unknown
      >)
    | null;
  abortBaseline: { executed: number; failed: number };
}

export interface ApprovalRow {
  tenantId: string;
  campaignId: string;
  revision: number;
  via: 'practice' | 'delegated';
  approvedBy: string;
  comment: string | null;
  approvedAt: Date;
}

export interface TargetDevice {
  tenantId: string;
  id: string;
  siteId: string;
  vendor: string | null;
  model: string | null;
  firmwareVersion: string | null;
}

const CAMPAIGN_COLUMNS = `organization_id AS "organizationId", id, name, description, state, revision,
  tenant_ids AS "tenantIds", site_ids AS "siteIds", target, artifact, procedure, waves, abort_policy AS "abortPolicy",
  catch_up AS "catchUp", durations, earliest_start AS "earliestStart", horizon_days AS "horizonDays",
  plan_summary AS "planSummary", created_by AS "createdBy", created_at AS "createdAt", updated_at AS "updatedAt",
  started_at AS "startedAt", finished_at AS "finishedAt", released_wave AS "releasedWave",
  wave_released_at AS "waveReleasedAt", pause_reason AS "pauseReason", abort_baseline AS "abortBaseline"`;

function definitionValues(definition: CampaignDefinition): unknown[] {
  return [
    definition.name,
    definition.description,
    definition.tenantIds,
    definition.siteIds,
    JSON.stringify(definition.target),
    definition.artifact === null ? null : JSON.stringify(definition.artifact),
    definition.procedure === null ? null : JSON.stringify(definition.procedure),
    JSON.stringify(definition.waves),
    JSON.stringify(definition.abortPolicy),
    JSON.stringify(definition.catchUp),
    JSON.stringify(definition.durations),
    definition.earliestStart,
    definition.horizonDays,
  ];
}

@Injectable()
export class CampaignRepository {
  async insert(
    tx: TenantTx,
    organizationId: string,
    id: string,
    definition: CampaignDefinition,
    by: string,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO campaigns (organization_id, id, state, name, description, tenant_ids, site_ids, target, artifact,
         procedure, waves, abort_policy, catch_up, durations, earliest_start, horizon_days, created_by)
       VALUES ($1, $2, 'draft', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [organizationId, id, ...definitionValues(definition), by],
    );
  }

  async update(tx: TenantTx, row: CampaignRow, definition: CampaignDefinition): Promise<void> {
    await tx.db.query(
      `UPDATE campaigns SET name = $3, description = $4, tenant_ids = $5, site_ids = $6, target = $7, artifact = $8,
         procedure = $9, waves = $10, abort_policy = $11, catch_up = $12, durations = $13, earliest_start = $14,
         horizon_days = $15, revision = revision + 1, updated_at = now()
       WHERE organization_id = $1 AND id = $2`,
      [row.organizationId, row.id, ...definitionValues(definition)],
    );
  }

  /** A campaign visible to the transaction; locked for the transaction when `forUpdate`. */
  async find(tx: TenantTx, id: string, forUpdate = false): Promise<CampaignRow | null> {
    const rows = (await tx.db.query(
      `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns
        WHERE id = $1 AND (organization_id = $2 OR tenant_ids && $3::uuid[])${forUpdate ? ' FOR UPDATE' : ''}`,
      [id, tx.organizationId, tx.tenantIds],
    )) as CampaignRow[];
    return rows[0] ?? null;
  }

  async list(
    tx: TenantTx,
    options: { state?: CampaignState; after: string | null; limit: number },
  ): Promise<CampaignRow[]> {
    const params: unknown[] = [tx.organizationId, tx.tenantIds];
    let where = `(organization_id = $1 OR tenant_ids && $2::uuid[])`;
    if (options.state) {
      params.push(options.state);
      where += ` AND state = $${params.length}`;
    }
    if (options.after) {
      params.push(options.after);
      where += ` AND id > $${params.length}`;
    }
    params.push(options.limit);
    return (await tx.db.query(
      `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE ${where} ORDER BY id LIMIT $${params.length}`,
      params,
    )) as CampaignRow[];
  }

  async setState(
    tx: TenantTx,
    row: CampaignRow,
    state: CampaignState,
    extra: {
      started?: boolean;
      finished?: boolean;
      planSummary?: unknown;
      /** Set on pause, cleared (null) on resume. */
      pauseReason?: CampaignRow['pauseReason'];
      releasedWave?: number;
      abortBaseline?: CampaignRow['abortBaseline'];
    } = {},
  ): Promise<void> {
    const params: unknown[] = [row.organizationId, row.id, state];
    const set = (column: string, value: unknown) => {
      params.push(value);
      return `, ${column} = $${params.length}`;
    };
    const sets = [
      extra.started ? ', started_at = now()' : '',
      extra.finished ? ', finished_at = now()' : '',
      extra.planSummary !== undefined ? set('plan_summary', JSON.stringify(extra.planSummary)) : '',
      extra.pauseReason !== undefined
        ? set('pause_reason', extra.pauseReason === null ? null : JSON.stringify(extra.pauseReason))
        : '',
      extra.releasedWave !== undefined
        ? `${set('released_wave', extra.releasedWave)}, wave_released_at = now()`
        : '',
      extra.abortBaseline !== undefined ? set('abort_baseline', JSON.stringify(extra.abortBaseline)) : '',
    ].join('');
    await tx.db.query(
      `UPDATE campaigns SET state = $3, updated_at = now()${sets} WHERE organization_id = $1 AND id = $2`,
      params,
    );
  }

  async approvals(tx: TenantTx, campaignId: string): Promise<ApprovalRow[]> {
    return (await tx.db.query(
      `SELECT tenant_id AS "tenantId", campaign_id AS "campaignId", revision, via, approved_by AS "approvedBy", comment,
              approved_at AS "approvedAt"
         FROM campaign_approvals WHERE tenant_id = ANY ($1::uuid[]) AND campaign_id = $2
        ORDER BY approved_at, tenant_id`,
      [tx.tenantIds, campaignId],
    )) as ApprovalRow[];
  }

  /** Records an approval; false when this tenant had already approved this revision. */
  async insertApproval(tx: TenantTx, approval: Omit<ApprovalRow, 'approvedAt'>): Promise<boolean> {
    const rows = (await tx.db.query(
      `INSERT INTO campaign_approvals (tenant_id, campaign_id, revision, via, approved_by, comment)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING tenant_id`,
      [
        approval.tenantId,
        approval.campaignId,
        approval.revision,
        approval.via,
        approval.approvedBy,
        approval.comment,
      ],
    )) as unknown[];
    return rows.length > 0;
  }

  /** Whether each tenant has delegated approval to its MSP (absent = not delegated). */
  async delegations(
    tx: TenantTx,
    tenantIds: readonly string[],
  ): Promise<Map<string, { delegated: boolean; updatedBy: string; updatedAt: Date }>> {
    const rows = (await tx.db.query(
      `SELECT tenant_id AS "tenantId", approval_delegated AS delegated, updated_by AS "updatedBy",
              updated_at AS "updatedAt"
         FROM tenant_campaign_settings WHERE tenant_id = ANY ($1::uuid[])`,
      [tenantIds],
    )) as { tenantId: string; delegated: boolean; updatedBy: string; updatedAt: Date }[];
    return new Map(rows.map(({ tenantId, ...rest }) => [tenantId, rest]));
  }

  async saveDelegation(tx: TenantTx, tenantId: string, delegated: boolean, by: string): Promise<void> {
    await tx.db.query(
      `INSERT INTO tenant_campaign_settings (tenant_id, approval_delegated, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET approval_delegated = EXCLUDED.approval_delegated,
           updated_by = EXCLUDED.updated_by, updated_at = now()`,
      [tenantId, delegated, by],
    );
  }

  /** Sites of the given tenants (only the listed ones when `siteIds` is not empty), visible to the transaction. */
  async sites(
    tx: TenantTx,
    tenantIds: readonly string[],
    siteIds: readonly string[],
  ): Promise<MaintenanceSiteRow[]> {
    return (await tx.db.query(
      `SELECT tenant_id AS "tenantId", id, county, time_zone AS "timeZone" FROM sites
        WHERE tenant_id = ANY ($1::uuid[]) AND tenant_id = ANY ($2::uuid[])
          AND (cardinality($3::uuid[]) = 0 OR id = ANY ($3::uuid[]))
        ORDER BY tenant_id, id`,
      [tx.tenantIds, tenantIds, siteIds],
    )) as MaintenanceSiteRow[];
  }

  /** Which of these devices the transaction can see. */
  async visibleDeviceIds(tx: TenantTx, ids: readonly string[]): Promise<string[]> {
    const rows = (await tx.db.query(
      `SELECT id FROM devices WHERE tenant_id = ANY ($1::uuid[]) AND id = ANY ($2::uuid[])`,
      [tx.tenantIds, ids],
    )) as { id: string }[];
    return rows.map((row) => row.id);
  }

  /** Devices of the vendor (and models) at those sites; the firmware range is checked by the caller. */
  async targetDevices(
    tx: TenantTx,
    tenantIds: readonly string[],
    siteIds: readonly string[],
    vendor: string,
    models: readonly string[],
  ): Promise<TargetDevice[]> {
    return (await tx.db.query(
      `SELECT tenant_id AS "tenantId", id, site_id AS "siteId", vendor, model, firmware_version AS "firmwareVersion"
         FROM devices
        WHERE tenant_id = ANY ($1::uuid[]) AND tenant_id = ANY ($2::uuid[]) AND site_id = ANY ($3::uuid[])
          AND lower(vendor) = lower($4)
          AND (cardinality($5::text[]) = 0 OR lower(model) = ANY ($5::text[]))
        ORDER BY tenant_id, site_id, id`,
      [tx.tenantIds, tenantIds, siteIds, vendor, models.map((model) => model.toLowerCase())],
    )) as TargetDevice[];
  }
}
