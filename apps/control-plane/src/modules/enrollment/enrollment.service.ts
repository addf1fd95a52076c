/** Enrollment tokens (REST) and the enrollment itself (gRPC): token in, agent identity out. */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  PROTOCOL_VERSION,
  agentTopicPrefix,
  parseEnrollmentToken,
  type EnrollRequest,
  type EnrollResponse,
} from '@medfleet/contracts';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { hashSecret, newSecret } from '../../common/secrets.js';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { TenantDb } from '../../database/tenant-db.js';
import { BrokerEndpoint } from '../../infra/runtime.js';
import { agentActor, principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { BrokerProvisioning } from '../broker/broker-provisioning.service.js';
import { SiteService } from '../sites/site.service.js';
import { AgentEntity } from '../agents/agent.entity.js';
import type { CreateEnrollmentTokenDto, ListEnrollmentTokensQuery } from './enrollment-token.dto.js';
import { EnrollmentTokenEntity } from './enrollment-token.entity.js';
import { EnrollmentErrorCode, EnrollmentException } from './enrollment.exception.js';

export type EnrollmentTokenView = Omit<EnrollmentTokenEntity, 'tokenHash'> & {
  state: 'active' | 'expired' | 'exhausted' | 'revoked';
};

function tokenState(token: EnrollmentTokenEntity, now: Date): EnrollmentTokenView['state'] {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt.getTime() <= now.getTime()) return 'expired';
  if (token.uses >= token.maxUses) return 'exhausted';
  return 'active';
}

const view = (token: EnrollmentTokenEntity, now = new Date()): EnrollmentTokenView => {
  const { tokenHash: _hidden, ...rest } = token;
  return { ...rest, state: tokenState(token, now) };
};

const clip = (value: string | undefined, max: number, fallback: string) =>
  (value ?? '').trim().slice(0, max) || fallback;

@Injectable()
export class EnrollmentService {
  private readonly logger = new Logger(EnrollmentService.name);

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly sites: SiteService,
    private readonly broker: BrokerEndpoint,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly brokerProvisioning: BrokerProvisioning,
  ) {}

  /** Creates a token for a site; the token itself is returned once and only its hash is kept. */
  createToken(
    auth: Principal,
    dto: CreateEnrollmentTokenDto,
  ): Promise<EnrollmentTokenView & { token: string }> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const site = await this.sites.require(tx, dto.siteId);
      const id = randomUUID();
      const token = `mfe_${site.tenantId}_${newSecret()}`;
      const repo = tx.db.getRepository(EnrollmentTokenEntity);
      await repo.insert({
        tenantId: site.tenantId,
        id,
        siteId: site.id,
        label: dto.label ?? null,
        tokenHash: hashSecret(token),
        expiresAt: new Date(Date.now() + (dto.expiresInHours ?? 72) * 3_600_000),
        maxUses: dto.maxUses ?? 1,
        createdBy: `${auth.kind}:${auth.id}`,
      });
      const created = view(await repo.findOneByOrFail({ tenantId: site.tenantId, id }));
      // The token itself is shown once to the caller and never recorded.
      await this.audit.record(tx, {
        action: 'enrollment_token.create',
        actor: principalActor(auth),
        tenantId: site.tenantId,
        target: { type: 'enrollment_token', id },
        after: created,
      });
      return { ...created, token };
    });
  }

  listTokens(auth: Principal, query: ListEnrollmentTokensQuery): Promise<Page<EnrollmentTokenView>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(EnrollmentTokenEntity)
        .createQueryBuilder('e')
        .where('e.tenant_id = ANY(:allowed)', { allowed: tx.tenantIds })
        .orderBy('e.id', 'ASC')
        .take(limit + 1);
      if (query.tenantId) qb.andWhere('e.tenant_id = :tenantId', { tenantId: query.tenantId });
      if (query.siteId) qb.andWhere('e.site_id = :siteId', { siteId: query.siteId });
      if (after) qb.andWhere('e.id > :after', { after });
      const page = toPage(await qb.getMany(), limit);
      return { ...page, items: page.items.map((token) => view(token)) };
    });
  }

  getToken(auth: Principal, id: string): Promise<EnrollmentTokenView> {
    return this.tenantDb.run(auth.scope, async (tx) =>
      view(await this.requireToken(tx.db, tx.tenantIds, id)),
    );
  }

  revokeToken(auth: Principal, id: string): Promise<EnrollmentTokenView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const token = await this.requireToken(tx.db, tx.tenantIds, id);
      if (token.revokedAt) return view(token);
      await tx.db
        .getRepository(EnrollmentTokenEntity)
        .update({ tenantId: token.tenantId, id }, { revokedAt: new Date() });
      const revoked = view(await this.requireToken(tx.db, tx.tenantIds, id));
      await this.audit.record(tx, {
        action: 'enrollment_token.revoke',
        actor: principalActor(auth),
        tenantId: token.tenantId,
        target: { type: 'enrollment_token', id },
        before: view(token),
        after: revoked,
      });
      return revoked;
    });
  }

  /**
   * Exchanges a token for an agent identity. The token names its tenant, so the whole exchange runs
   * tenant-scoped like any other request; a token for another tenant simply is not found. `source` is the
   * agent's address, for the audit trail.
   */
  async enroll(request: EnrollRequest, source: { ip?: string | null } = {}): Promise<EnrollResponse> {
    if (request.protocolVersion !== PROTOCOL_VERSION) {
      throw new EnrollmentException(
        EnrollmentErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
        `protocol version ${request.protocolVersion} is not supported; this control plane speaks ${PROTOCOL_VERSION}`,
      );
    }
    const parsed = parseEnrollmentToken(request.token ?? '');
    if (!parsed)
      throw new EnrollmentException(EnrollmentErrorCode.TOKEN_INVALID, 'the enrollment token is not valid');
    const facts = request.facts;
    const macs = (facts?.macAddresses ?? []).slice(0, 32);
    if (macs.some((mac) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))) {
      throw new EnrollmentException(EnrollmentErrorCode.INVALID_FACTS, 'macAddresses must be MAC addresses');
    }

    // A refusal of a real token is recorded after its transaction rolled back; unknown tokens are not, so
    // that nobody can fill a tenant's audit trail by guessing.
    let refused: { token: EnrollmentTokenEntity; state: EnrollmentTokenView['state'] } | null = null;
    // Set once the broker holds the agent's client, to remove it again if the transaction then fails.
    let provisioned: string | null = null;
    const scope = { organizationId: null, tenantIds: [parsed.tenantId] };
    const exchange = this.tenantDb.run<EnrollResponse>(scope, async (tx) => {
      const tokenHash = hashSecret(request.token);
      const token = await tx.db
        .getRepository(EnrollmentTokenEntity)
        .createQueryBuilder('e')
        .where('e.tenant_id = :tenantId AND e.token_hash = :tokenHash', {
          tenantId: parsed.tenantId,
          tokenHash,
        })
        .setLock('pessimistic_write')
        .getOne();
      if (!token)
        throw new EnrollmentException(EnrollmentErrorCode.TOKEN_INVALID, 'the enrollment token is not valid');
      const state = tokenState(token, new Date());
      if (state !== 'active') refused = { token, state };
      if (state === 'revoked')
        throw new EnrollmentException(EnrollmentErrorCode.TOKEN_REVOKED, 'the token was revoked');
      if (state === 'expired') {
        throw new EnrollmentException(
          EnrollmentErrorCode.TOKEN_EXPIRED,
          `the token expired at ${token.expiresAt.toISOString()}`,
        );
      }
      if (state === 'exhausted') {
        throw new EnrollmentException(
          EnrollmentErrorCode.TOKEN_EXHAUSTED,
          `the token was used ${token.uses} of ${token.maxUses} times`,
        );
      }
      await tx.db
        .getRepository(EnrollmentTokenEntity)
        .update({ tenantId: token.tenantId, id: token.id }, { uses: token.uses + 1 });

      const site = await this.sites.require(tx, token.siteId);
      const tenantRows = (await tx.db.query(`SELECT organization_id FROM tenants WHERE id = $1`, [
        site.tenantId,
      ])) as {
        organization_id: string;
      }[];
      const agentId = randomUUID();
      const secret = newSecret();
      const agent = {
        tenantId: site.tenantId,
        id: agentId,
        siteId: site.id,
        enrollmentTokenId: token.id,
        hostname: clip(facts?.hostname, 253, 'unknown'),
        agentVersion: clip(facts?.agentVersion, 64, 'unknown'),
        os: clip(facts?.os, 128, 'unknown'),
        arch: clip(facts?.arch, 32, 'unknown'),
        serial: clip(facts?.serial, 128, 'unknown'),
        macAddresses: macs.map((mac) => mac.toLowerCase()),
        inventoryIntervalSec: this.config.AGENT_INVENTORY_INTERVAL_SEC,
        healthIntervalSec: this.config.AGENT_HEALTH_INTERVAL_SEC,
      } satisfies Partial<AgentEntity>;
      await tx.db.getRepository(AgentEntity).insert(agent);
      await tx.db.query(
        `INSERT INTO agent_credentials (agent_id, tenant_id, site_id, secret_hash) VALUES ($1, $2, $3, $4)`,
        [agentId, site.tenantId, site.id, hashSecret(secret)],
      );
      await this.audit.record(tx, {
        action: 'agent.enroll',
        actor: agentActor(agentId, agent.hostname, `enrollment_token:${token.id}`),
        tenantId: site.tenantId,
        target: { type: 'agent', id: agentId },
        source: { ip: source.ip ?? null, userAgent: null },
        after: agent,
        details: { enrollmentTokenId: token.id, tokenUses: token.uses + 1, tokenMaxUses: token.maxUses },
      });
      const address = { tenantId: site.tenantId, siteId: site.id, agentId };
      // Last, inside the transaction: if the broker (dynamic-security) does not confirm the agent's client,
      // the enrollment fails and rolls back, rather than enrolling an agent that cannot connect.
      try {
        await this.brokerProvisioning.provisionAgent(address, secret);
      } catch (error) {
        this.logger.error(
          `enrollment of agent ${agentId} refused: the MQTT broker did not provision it (${
            error instanceof Error ? error.message : String(error)
          })`,
        );
        throw new EnrollmentException(
          EnrollmentErrorCode.BROKER_UNAVAILABLE,
          'the MQTT broker could not be prepared for this agent; retry later (the token was not used)',
        );
      }
      provisioned = agentId;
      return {
        agentId,
        organizationId: tenantRows[0]?.organization_id ?? '',
        tenantId: site.tenantId,
        siteId: site.id,
        certificatePem: '',
        caChainPem: [],
        mqtt: {
          url: this.broker.publicUrl,
          clientId: agentId,
          username: agentId,
          password: secret,
          topicPrefix: agentTopicPrefix(address),
          // The embedded broker (Aedes) speaks MQTT 3.1.1 only.
          protocolVersion: this.config.embeddedBroker ? 4 : 5,
        },
        config: {
          inventoryIntervalSec: this.config.AGENT_INVENTORY_INTERVAL_SEC,
          healthIntervalSec: this.config.AGENT_HEALTH_INTERVAL_SEC,
        },
        siteTimeZone: site.timeZone,
      };
    });
    return exchange.catch(async (error: unknown) => {
      if (provisioned) await this.brokerProvisioning.deprovisionAgent(provisioned);
      if (refused) {
        await this.audit.recordStandalone(
          { organizationId: null, tenantIds: [refused.token.tenantId] },
          {
            action: 'agent.enroll_failed',
            actor: {
              kind: 'anonymous',
              id: null,
              display: clip(facts?.hostname, 253, 'unknown'),
              credential: `enrollment_token:${refused.token.id}`,
            },
            tenantId: refused.token.tenantId,
            target: { type: 'enrollment_token', id: refused.token.id },
            source: { ip: source.ip ?? null, userAgent: null },
            details: { reason: refused.state, serial: clip(facts?.serial, 128, 'unknown') },
          },
        );
      }
      throw error;
    });
  }

  private async requireToken(
    db: import('typeorm').EntityManager,
    allowed: readonly string[],
    id: string,
  ): Promise<EnrollmentTokenEntity> {
    const token = await db
      .getRepository(EnrollmentTokenEntity)
      .createQueryBuilder('e')
      .where('e.tenant_id = ANY(:allowed) AND e.id = :id', { allowed, id })
      .getOne();
    if (!token) throw AppException.notFound('enrollment token', id);
    return token;
  }
}
