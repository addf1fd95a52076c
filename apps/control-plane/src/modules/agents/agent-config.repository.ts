/** The only SQL of agent configs: versions set through the API, their publication, and the agent's answer. */
import { Injectable } from '@nestjs/common';
import type { AgentConfigBody, ConfigRejectReason } from '@medfleet/contracts';
import type { TenantTx } from '../../database/tenant-db.js';

export interface StoredAgentConfig {
  version: number;
  config: AgentConfigBody;
  createdAt: Date;
  publishedAt: Date | null;
  appliedAt: Date | null;
  rejectedAt: Date | null;
  rejectionReason: ConfigRejectReason | null;
  rejectionDetail: string | null;
}

interface ConfigRow {
  version: number;
  config: AgentConfigBody;
  created_at: Date;
  published_at: Date | null;
  applied_at: Date | null;
  rejected_at: Date | null;
  rejection_reason: ConfigRejectReason | null;
  rejection_detail: string | null;
}

const COLUMNS = `version, config, created_at, published_at, applied_at, rejected_at, rejection_reason, rejection_detail`;

function fromRow(row: ConfigRow): StoredAgentConfig {
  return {
    version: row.version,
    config: row.config,
    createdAt: row.created_at,
    publishedAt: row.published_at,
    appliedAt: row.applied_at,
    rejectedAt: row.rejected_at,
    rejectionReason: row.rejection_reason,
    rejectionDetail: row.rejection_detail,
  };
}

export interface AgentKey {
  tenantId: string;
  agentId: string;
}

@Injectable()
export class AgentConfigRepository {
  async version(tx: TenantTx, key: AgentKey, version: number): Promise<StoredAgentConfig | null> {
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS} FROM agent_configs
        WHERE tenant_id = $1 AND agent_id = $2 AND version = $3 AND tenant_id = ANY($4::uuid[])`,
      [key.tenantId, key.agentId, version, tx.tenantIds],
    )) as ConfigRow[];
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** The newest refused version above `aboveVersion`, if any (what the agent view reports as rejected). */
  async latestRejection(
    tx: TenantTx,
    key: AgentKey,
    aboveVersion: number,
  ): Promise<StoredAgentConfig | null> {
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS} FROM agent_configs
        WHERE tenant_id = $1 AND agent_id = $2 AND version > $3 AND rejected_at IS NOT NULL
          AND tenant_id = ANY($4::uuid[])
        ORDER BY version DESC LIMIT 1`,
      [key.tenantId, key.agentId, aboveVersion, tx.tenantIds],
    )) as ConfigRow[];
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Stores `config` as the agent's new desired version (the caller holds the agent's row lock). */
  async insertDesired(tx: TenantTx, key: AgentKey, config: AgentConfigBody): Promise<void> {
    await tx.db.query(
      `INSERT INTO agent_configs (tenant_id, agent_id, version, config) VALUES ($1, $2, $3, $4)`,
      [key.tenantId, key.agentId, config.version, JSON.stringify(config)],
    );
    await tx.db.query(`UPDATE agents SET desired_config_version = $3 WHERE tenant_id = $1 AND id = $2`, [
      key.tenantId,
      key.agentId,
      config.version,
    ]);
  }

  /** The agent's current desired config when it is one set through the API (not the enrollment one). */
  async desired(tx: TenantTx, key: AgentKey): Promise<StoredAgentConfig | null> {
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS.split(', ')
        .map((column) => `c.${column}`)
        .join(', ')}
         FROM agents a JOIN agent_configs c
           ON c.tenant_id = a.tenant_id AND c.agent_id = a.id AND c.version = a.desired_config_version
        WHERE a.tenant_id = $1 AND a.id = $2 AND a.tenant_id = ANY($3::uuid[])`,
      [key.tenantId, key.agentId, tx.tenantIds],
    )) as ConfigRow[];
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async markPublished(tx: TenantTx, key: AgentKey, version: number): Promise<void> {
    await tx.db.query(
      `UPDATE agent_configs SET published_at = now() WHERE tenant_id = $1 AND agent_id = $2 AND version = $3`,
      [key.tenantId, key.agentId, version],
    );
  }

  /**
   * The agent applied `version`: recorded once, and, when it is newer than what the agent ran, its
   * intervals become the agent's (the silence rule follows the health interval the agent really uses).
   */
  async recordApplied(tx: TenantTx, key: AgentKey, version: number, appliedAt: string): Promise<boolean> {
    const rows = (await tx.db.query(
      `UPDATE agent_configs SET applied_at = coalesce(applied_at, $4::timestamptz)
        WHERE tenant_id = $1 AND agent_id = $2 AND version = $3
        RETURNING (config->>'healthIntervalSec')::integer AS health, (config->>'inventoryIntervalSec')::integer AS inventory`,
      [key.tenantId, key.agentId, version, appliedAt],
    )) as [{ health: number; inventory: number }[], number] | { health: number; inventory: number }[];
    const row = (Array.isArray(rows[0]) ? rows[0][0] : rows[0]) as
      { health: number; inventory: number } | undefined;
    if (!row) return false;
    await tx.db.query(
      `UPDATE agents SET applied_config_version = $3, health_interval_sec = $4, inventory_interval_sec = $5
        WHERE tenant_id = $1 AND id = $2 AND applied_config_version < $3`,
      [key.tenantId, key.agentId, version, row.health, row.inventory],
    );
    return true;
  }

  async recordRejected(
    tx: TenantTx,
    key: AgentKey,
    rejection: { version: number; reason: ConfigRejectReason; detail: string; rejectedAt: string },
  ): Promise<boolean> {
    const rows = (await tx.db.query(
      `UPDATE agent_configs
          SET rejected_at = coalesce(rejected_at, $4::timestamptz), rejection_reason = $5, rejection_detail = $6
        WHERE tenant_id = $1 AND agent_id = $2 AND version = $3
        RETURNING version`,
      [
        key.tenantId,
        key.agentId,
        rejection.version,
        rejection.rejectedAt,
        rejection.reason,
        rejection.detail,
      ],
    )) as unknown[];
    const affected = Array.isArray(rows[0]) ? (rows[0] as unknown[]) : rows;
    return affected.length > 0;
  }

  /**
   * Whether the desired config should go out again to an agent that reports running `reportedVersion`:
   * it is newer and not refused, and either was not published in the last `quietSec` (it may still be on
   * its way) or was published before the agent process started (it restarted without it).
   */
  async needsRepublish(
    tx: TenantTx,
    key: AgentKey,
    reportedVersion: number,
    quietSec: number,
    agentStartedAt: Date | null,
  ): Promise<boolean> {
    const rows = (await tx.db.query(
      `SELECT 1 FROM agents a JOIN agent_configs c
           ON c.tenant_id = a.tenant_id AND c.agent_id = a.id AND c.version = a.desired_config_version
        WHERE a.tenant_id = $1 AND a.id = $2 AND a.desired_config_version > $3 AND c.rejected_at IS NULL
          AND (c.published_at IS NULL OR c.published_at < now() - $4 * interval '1 second'
               OR c.published_at < $5::timestamptz)`,
      [key.tenantId, key.agentId, reportedVersion, quietSec, agentStartedAt],
    )) as unknown[];
    return rows.length > 0;
  }
}
