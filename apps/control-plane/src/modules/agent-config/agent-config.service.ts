/**
 * The desired config of each agent: set through the API as a new version (validated against the wire
 * contract, audited), published retained on the agent's `cmd/config`, and shown with what the agent
 * answered (applied, or rejected with its reason).
 */
import { isDeepStrictEqual } from 'node:util';
import { HttpStatus, Injectable } from '@nestjs/common';
import {
  agentConfigSchema,
  defaultMaintenancePolicy,
  type AgentAddress,
  type AgentConfigBody,
  type ConfigRejectReason,
  type MaintenancePolicy,
  type WorkOrderKey,
} from '@medfleet/contracts';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { AgentConfigRepository } from '../agents/agent-config.repository.js';
import type { UpdateAgentConfigDto } from '../agents/agent.dto.js';
import type { AgentEntity } from '../agents/agent.entity.js';
import { AgentService } from '../agents/agent.service.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { WorkOrderKeyService } from '../dispatch/work-order-key.service.js';
import { AgentConfigPublisher } from '../ingest/agent-config.publisher.js';
import { MaintenanceService } from '../maintenance/maintenance.service.js';
import { SiteEntity } from '../sites/site.entity.js';
import { policyCopy } from './policy-copy.js';

export const CONFIG_INVALID = 'CONFIG_INVALID';
export const AGENT_NOT_CONFIGURABLE = 'AGENT_NOT_CONFIGURABLE';

/** What the API shows of an agent's config. */
export interface AgentConfigView {
  agentId: string;
  tenantId: string;
  /** The version the control plane wants (0: the enrollment config, never changed through the API). */
  desiredVersion: number;
  /** The version the agent last reported applied. */
  appliedVersion: number;
  /** `applied` once the agent runs the desired version, `rejected` if it refused it, else `pending`. */
  state: 'applied' | 'pending' | 'rejected';
  desired: AgentConfigBody | EnrollmentConfig;
  publishedAt: Date | null;
  appliedAt: Date | null;
  /** The newest version the agent refused that is above the one it runs: why, and when. */
  rejection: { version: number; reason: ConfigRejectReason; detail: string; rejectedAt: Date } | null;
}

/** An agent's copy of its site's maintenance policy, and the site revision it was made from. */
interface SiteCopy {
  copy: MaintenancePolicy;
  rev: string;
}

/** Version 0: what the agent enrolled with, as the agent itself derives it. */
type EnrollmentConfig = Omit<AgentConfigBody, 'version'> & { version: 0 };

@Injectable()
export class AgentConfigService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly agents: AgentService,
    private readonly configs: AgentConfigRepository,
    private readonly publisher: AgentConfigPublisher,
    private readonly audit: AuditService,
    private readonly keys: WorkOrderKeyService,
    private readonly maintenance: MaintenanceService,
  ) {}

  get(auth: Principal, agentId: string): Promise<AgentConfigView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const agent = await this.requireAgent(tx, agentId);
      return this.view(tx, agent);
    });
  }

  /** Stores the next version, publishes it (after the commit) and answers the view. */
  async set(auth: Principal, agentId: string, dto: UpdateAgentConfigDto): Promise<AgentConfigView> {
    // Every config carries the work-order key, so a change through the API never takes it away.
    const workOrderKey = (await this.keys.signingKey()).publicKey;
    const { view, agent } = await this.tenantDb.run(auth.scope, async (tx) => {
      const agent = await this.requireAgent(tx, agentId, true);
      if (agent.revokedAt || agent.approvalState === 'rejected') {
        throw new AppException(
          AGENT_NOT_CONFIGURABLE,
          HttpStatus.CONFLICT,
          `agent ${agentId} is ${agent.revokedAt ? 'revoked' : 'rejected'} and takes no config`,
          { agentId },
        );
      }
      const site = await tx.db
        .getRepository(SiteEntity)
        .findOneByOrFail({ tenantId: agent.tenantId, id: agent.siteId });
      const key = { tenantId: agent.tenantId, agentId };
      const timeZone = dto.maintenance?.['timeZone'];
      if (timeZone !== undefined && timeZone !== site.timeZone) {
        throw configInvalid([
          {
            path: 'maintenance.timeZone',
            message: `the maintenance policy runs in the site's time zone (${site.timeZone})`,
          },
        ]);
      }
      const previous = await this.current(tx, agent);
      // The copy of the site's policy, unless the change names one of its own (kept until the site's changes).
      const copy = await this.siteCopy(tx, agent);
      await this.markPolicy(tx, agent, copy.rev);
      const config = validConfig({
        version: agent.desiredConfigVersion + 1,
        inventoryIntervalSec: dto.inventoryIntervalSec,
        healthIntervalSec: dto.healthIntervalSec,
        collectors: dto.collectors ?? { inventory: { enabled: true } },
        maintenance:
          dto.maintenance === undefined
            ? copy.copy
            : {
                // Anything else given is left in, so the contract's strict check names it.
                ...omit(dto.maintenance, ['windows', 'timeZone']),
                timeZone: site.timeZone,
                windows: dto.maintenance['windows'] ?? defaultMaintenancePolicy(site.timeZone).windows,
              },
        workOrderKeys: [workOrderKey],
      });
      await this.configs.insertDesired(tx, key, config);
      await this.markKey(tx, agent, workOrderKey);
      await this.audit.record(tx, {
        action: 'agent.configure',
        actor: principalActor(auth),
        tenantId: agent.tenantId,
        target: { type: 'agent', id: agentId },
        before: previous,
        after: config,
      });
      const updated = { ...agent, desiredConfigVersion: config.version };
      return { view: await this.view(tx, updated), agent: updated };
    });
    const published = await this.publisher.publish({
      tenantId: agent.tenantId,
      siteId: agent.siteId,
      agentId,
    });
    return published === null ? view : { ...view, publishedAt: new Date() };
  }

  /**
   * Gives every approved, unrevoked agent of the tenant whose desired config lacks `workOrderKey`, or whose copy of
   * its site's maintenance policy is behind the site's (`maintenance_rev`), one new config version carrying both
   * (the rest unchanged), audited; publishes them after the commit. Resolves to the agents given a new version.
   * Agents whose row is locked (a message being committed) are left for the next pass.
   */
  async refreshConfigs(tenantId: string, workOrderKey: WorkOrderKey): Promise<AgentAddress[]> {
    const scope = { organizationId: null, tenantIds: [tenantId] };
    const updated = await this.tenantDb.run(scope, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT a.id, a.site_id, a.work_order_key_id IS DISTINCT FROM $3 AS key_stale,
                a.maintenance_rev IS DISTINCT FROM s.maintenance_rev AS policy_stale
           FROM agents a JOIN sites s ON s.tenant_id = a.tenant_id AND s.id = a.site_id
          WHERE a.tenant_id = $1 AND a.tenant_id = ANY($2::uuid[]) AND a.revoked_at IS NULL
            AND a.approval_state = 'approved'
            AND (a.work_order_key_id IS DISTINCT FROM $3 OR a.maintenance_rev IS DISTINCT FROM s.maintenance_rev)
          ORDER BY a.id FOR UPDATE OF a SKIP LOCKED`,
        [tenantId, tx.tenantIds, workOrderKey.keyId],
      )) as { id: string; site_id: string; key_stale: boolean; policy_stale: boolean }[];
      const addresses: AgentAddress[] = [];
      // One copy per site, however many of its agents are refreshed (an organization's freeze reaches them all).
      const copies = await this.siteCopies(tx, tenantId, [...new Set(rows.map((row) => row.site_id))]);
      for (const row of rows) {
        const agent = (await this.agents.find(tx, row.id)) as AgentEntity;
        const previous = await this.current(tx, agent);
        const site = copies.get(row.site_id) as SiteCopy;
        const maintenance = row.policy_stale ? site.copy : previous.maintenance;
        await this.markPolicy(tx, agent, site.rev);
        // Stored as jsonb, the previous copy's keys come back in another order: compared as values.
        if (!row.key_stale && isDeepStrictEqual(maintenance, previous.maintenance)) continue;
        const config = validConfig({
          ...previous,
          version: agent.desiredConfigVersion + 1,
          maintenance,
          workOrderKeys: [workOrderKey],
        });
        await this.configs.insertDesired(tx, { tenantId, agentId: agent.id }, config);
        await this.markKey(tx, agent, workOrderKey);
        await this.audit.record(tx, {
          action: 'agent.configure',
          actor: { kind: 'system', id: null, display: 'control plane' },
          tenantId,
          target: { type: 'agent', id: agent.id },
          before: previous,
          after: config,
          details: {
            reasons: [
              ...(row.key_stale ? ['work-order key'] : []),
              ...(row.policy_stale ? ['site maintenance policy'] : []),
            ],
            keyId: workOrderKey.keyId,
          },
        });
        addresses.push({ tenantId, siteId: row.site_id, agentId: row.id });
      }
      return addresses;
    });
    for (const address of updated) await this.publisher.publish(address);
    return updated;
  }

  /** The agent's site as its policy copy (policy, blackouts reaching it) and the revision it was made from. */
  private async siteCopy(tx: TenantTx, agent: AgentEntity): Promise<SiteCopy> {
    const copies = await this.siteCopies(tx, agent.tenantId, [agent.siteId]);
    const copy = copies.get(agent.siteId);
    if (!copy) throw new Error(`site ${agent.siteId} of agent ${agent.id} not found`);
    return copy;
  }

  /** Policy copies of the tenant's sites, by site id, from one read of their policies and blackouts. */
  private async siteCopies(
    tx: TenantTx,
    tenantId: string,
    siteIds: string[],
  ): Promise<Map<string, SiteCopy>> {
    const rows = (await tx.db.query(
      `SELECT id, county, time_zone, maintenance_rev::text AS rev FROM sites
        WHERE tenant_id = $1 AND id = ANY($2::uuid[])`,
      [tenantId, siteIds],
    )) as { id: string; county: string | null; time_zone: string; rev: string }[];
    const sites = await this.maintenance.planSites(
      tx,
      rows.map((row) => ({ tenantId, id: row.id, county: row.county, timeZone: row.time_zone })),
    );
    const nowMs = Date.now();
    const revs = new Map(rows.map((row) => [row.id, row.rev]));
    return new Map(
      sites.map((site) => [site.id, { copy: policyCopy(site, nowMs), rev: revs.get(site.id) as string }]),
    );
  }

  private async markPolicy(tx: TenantTx, agent: AgentEntity, rev: string): Promise<void> {
    await tx.db.query(`UPDATE agents SET maintenance_rev = $3 WHERE tenant_id = $1 AND id = $2`, [
      agent.tenantId,
      agent.id,
      rev,
    ]);
  }

  private async markKey(tx: TenantTx, agent: AgentEntity, workOrderKey: WorkOrderKey): Promise<void> {
    await tx.db.query(`UPDATE agents SET work_order_key_id = $3 WHERE tenant_id = $1 AND id = $2`, [
      agent.tenantId,
      agent.id,
      workOrderKey.keyId,
    ]);
  }

  private async requireAgent(tx: TenantTx, agentId: string, lock = false): Promise<AgentEntity> {
    const agent = await this.agents.find(tx, agentId);
    if (!agent) throw AppException.notFound('agent', agentId);
    if (lock) {
      // Versions are numbered under the agent's row lock, so two concurrent changes get two versions.
      await tx.db.query(`SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [
        agent.tenantId,
        agentId,
      ]);
      return (await this.agents.find(tx, agentId)) as AgentEntity;
    }
    return agent;
  }

  private async current(tx: TenantTx, agent: AgentEntity): Promise<AgentConfigBody | EnrollmentConfig> {
    const key = { tenantId: agent.tenantId, agentId: agent.id };
    const stored = agent.desiredConfigVersion > 0 ? await this.configs.desired(tx, key) : null;
    if (stored) return stored.config;
    const site = await tx.db
      .getRepository(SiteEntity)
      .findOneByOrFail({ tenantId: agent.tenantId, id: agent.siteId });
    return {
      version: 0,
      inventoryIntervalSec: agent.inventoryIntervalSec,
      healthIntervalSec: agent.healthIntervalSec,
      collectors: { inventory: { enabled: true } },
      maintenance: defaultMaintenancePolicy(site.timeZone),
    };
  }

  private async view(tx: TenantTx, agent: AgentEntity): Promise<AgentConfigView> {
    const key = { tenantId: agent.tenantId, agentId: agent.id };
    const desired =
      agent.desiredConfigVersion > 0 ? await this.configs.version(tx, key, agent.desiredConfigVersion) : null;
    const rejected = await this.configs.latestRejection(tx, key, agent.appliedConfigVersion);
    const appliedRow =
      agent.appliedConfigVersion > 0 ? await this.configs.version(tx, key, agent.appliedConfigVersion) : null;
    const state =
      agent.appliedConfigVersion >= agent.desiredConfigVersion
        ? 'applied'
        : desired?.rejectedAt
          ? 'rejected'
          : 'pending';
    return {
      agentId: agent.id,
      tenantId: agent.tenantId,
      desiredVersion: agent.desiredConfigVersion,
      appliedVersion: agent.appliedConfigVersion,
      state,
      desired: desired?.config ?? (await this.current(tx, agent)),
      publishedAt: desired?.publishedAt ?? null,
      appliedAt: appliedRow?.appliedAt ?? null,
      rejection:
        rejected?.rejectedAt && rejected.rejectionReason
          ? {
              version: rejected.version,
              reason: rejected.rejectionReason,
              detail: rejected.rejectionDetail ?? '',
              rejectedAt: rejected.rejectedAt,
            }
          : null,
    };
  }
}

/** Checks a config against the wire contract: what an agent would refuse is refused here, with the issues. */
function validConfig(candidate: unknown): AgentConfigBody {
  const parsed = agentConfigSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  throw configInvalid(
    parsed.error.issues.slice(0, 10).map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  );
}

function configInvalid(issues: { path: string; message: string }[]): AppException {
  return new AppException(
    CONFIG_INVALID,
    HttpStatus.BAD_REQUEST,
    `The config is not valid: ${issues.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; ')}`,
    { issues },
  );
}

function omit(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([name]) => !keys.includes(name)));
}
