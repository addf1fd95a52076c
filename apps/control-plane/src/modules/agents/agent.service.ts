import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { BrokerEndpoint } from '../../infra/runtime.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { BrokerProvisioning } from '../broker/broker-provisioning.service.js';
import {
  agentStatus,
  silenceRule,
  silenceThresholdSec,
  statusSql,
  type SilenceRule,
} from './agent-status.js';
import type { AgentStatus, ListAgentsQuery } from './agent.dto.js';
import { AgentEntity } from './agent.entity.js';

/** An agent as the API shows it: its row, its status, and how long it may stay silent before an alert. */
export type AgentView = AgentEntity & { status: AgentStatus; silenceThresholdSec: number };

@Injectable()
export class AgentService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly audit: AuditService,
    private readonly broker: BrokerEndpoint,
    private readonly brokerProvisioning: BrokerProvisioning,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.rule = silenceRule(config);
  }

  private readonly rule: SilenceRule;

  view(agent: AgentEntity, now = new Date()): AgentView {
    return {
      ...agent,
      status: agentStatus(agent, now, this.rule),
      silenceThresholdSec: silenceThresholdSec(agent.healthIntervalSec, this.rule),
    };
  }

  /**
   * Revokes an agent: its credentials stop working at once (MQTT, AgentSync), its messages are refused,
   * and its connection is closed now (embedded broker, or Mosquitto with dynamic-security). Revoking twice changes nothing.
   */
  async revoke(auth: Principal, id: string): Promise<AgentView> {
    const view = await this.tenantDb.run(auth.scope, async (tx) => {
      const agent = await this.find(tx, id);
      if (!agent) throw AppException.notFound('agent', id);
      if (!agent.revokedAt) {
        await tx.db.query(`UPDATE agents SET revoked_at = now() WHERE tenant_id = $1 AND id = $2`, [
          agent.tenantId,
          id,
        ]);
        await tx.db.query(
          `UPDATE agent_credentials SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL`,
          [id],
        );
        await this.audit.record(tx, {
          action: 'agent.revoke',
          actor: principalActor(auth),
          tenantId: agent.tenantId,
          target: { type: 'agent', id },
          before: { revokedAt: null },
          after: { revokedAt: 'now' },
        });
        // A revoked agent is expected to be silent: its open silence alert is closed with it.
        await tx.db.query(
          `UPDATE agent_alerts SET resolved_at = now() WHERE tenant_id = $1 AND agent_id = $2 AND resolved_at IS NULL`,
          [agent.tenantId, id],
        );
      }
      const current = (await this.find(tx, id)) as AgentEntity;
      return this.view(current);
    });
    this.broker.disconnectClient(id);
    // Dynamic-security: the agent's broker client is deleted (Mosquitto closes its connection); on every
    // revoke, so repeating one also retries it. Never throws; a failure is logged and retried.
    await this.brokerProvisioning.deprovisionAgent(id);
    return view;
  }

  list(auth: Principal, query: ListAgentsQuery): Promise<Page<AgentView>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(AgentEntity)
        .createQueryBuilder('a')
        .where('a.tenant_id = ANY(:allowed)', { allowed: tx.tenantIds })
        .orderBy('a.id', 'ASC');
      if (query.tenantId) qb.andWhere('a.tenant_id = :tenantId', { tenantId: query.tenantId });
      if (query.siteId) qb.andWhere('a.site_id = :siteId', { siteId: query.siteId });
      if (after) qb.andWhere('a.id > :after', { after });
      if (query.status) {
        qb.andWhere(statusSql(query.status), {
          silenceIntervals: this.rule.intervals,
          silenceGrace: this.rule.graceSec,
        });
      }
      const rows = await qb.take(limit + 1).getMany();
      const now = new Date();
      return toPage(
        rows.map((agent) => this.view(agent, now)),
        limit,
      );
    });
  }

  get(auth: Principal, id: string): Promise<AgentView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const agent = await this.find(tx, id);
      if (!agent) throw AppException.notFound('agent', id);
      return this.view(agent);
    });
  }

  find(tx: TenantTx, id: string): Promise<AgentEntity | null> {
    return tx.db
      .getRepository(AgentEntity)
      .createQueryBuilder('a')
      .where('a.tenant_id = ANY(:allowed) AND a.id = :id', { allowed: tx.tenantIds, id })
      .getOne();
  }
}
