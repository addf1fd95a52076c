/** Enrollment tokens (REST) and the enrollment itself (gRPC): token in, agent identity out. */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type * as x509 from '@peculiar/x509';
import {
  PROTOCOL_VERSION,
  agentTopicPrefix,
  parseEnrollmentToken,
  type EnrollRequest,
  type EnrollResponse,
  type PollEnrollmentRequest,
  type RenewCertificateRequest,
  type RenewCertificateResponse,
} from '@medfleet/contracts';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { hashSecret, newSecret, secretMatches } from '../../common/secrets.js';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { BrokerEndpoint } from '../../infra/runtime.js';
import { agentActor, principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { BrokerProvisioning } from '../broker/broker-provisioning.service.js';
import { CsrError, verifiedCsrPublicKey } from '../pki/certificates.util.js';
import { PkiService, type CertifiedAgent } from '../pki/pki.service.js';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
    private readonly pki: PkiService,
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
        requiresApproval: dto.requiresApproval ?? false,
        allowedSerials: dto.serials ?? null,
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
   * agent's address, for the audit trail. With a token that requires approval, the agent is recorded as
   * pending and gets only what it needs to poll: no credentials until a technician approves it.
   */
  async enroll(request: EnrollRequest, source: { ip?: string | null } = {}): Promise<EnrollResponse> {
    this.requireProtocol(request.protocolVersion);
    const parsed = parseEnrollmentToken(request.token ?? '');
    if (!parsed)
      throw new EnrollmentException(EnrollmentErrorCode.TOKEN_INVALID, 'the enrollment token is not valid');
    const facts = request.facts;
    const macs = (facts?.macAddresses ?? []).slice(0, 32);
    if (macs.some((mac) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))) {
      throw new EnrollmentException(EnrollmentErrorCode.INVALID_FACTS, 'macAddresses must be MAC addresses');
    }
    const serial = clip(facts?.serial, 128, 'unknown');

    // A refusal of a real token is recorded after its transaction rolled back; unknown tokens are not, so
    // that nobody can fill a tenant's audit trail by guessing.
    let refused: { token: EnrollmentTokenEntity; reason: string } | null = null;
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
      if (state !== 'active') refused = { token, reason: state };
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
      if (token.allowedSerials && !token.allowedSerials.includes(serial)) {
        refused = { token, reason: 'serial_not_authorized' };
        throw new EnrollmentException(
          EnrollmentErrorCode.SERIAL_NOT_AUTHORIZED,
          `serial ${JSON.stringify(serial)} is not pre-authorized for this token`,
        );
      }
      let csrKey: x509.PublicKey | null = null;
      if (request.csrPem) {
        try {
          csrKey = await verifiedCsrPublicKey(request.csrPem);
        } catch (error) {
          if (!(error instanceof CsrError)) throw error;
          refused = { token, reason: 'csr_invalid' };
          throw new EnrollmentException(EnrollmentErrorCode.CSR_INVALID, error.message);
        }
      }
      await tx.db
        .getRepository(EnrollmentTokenEntity)
        .update({ tenantId: token.tenantId, id: token.id }, { uses: token.uses + 1 });

      const site = await this.sites.require(tx, token.siteId);
      const organizationId = await this.organizationOf(tx, site.tenantId);
      const agentId = randomUUID();
      const agent = {
        tenantId: site.tenantId,
        id: agentId,
        siteId: site.id,
        enrollmentTokenId: token.id,
        hostname: clip(facts?.hostname, 253, 'unknown'),
        agentVersion: clip(facts?.agentVersion, 64, 'unknown'),
        os: clip(facts?.os, 128, 'unknown'),
        arch: clip(facts?.arch, 32, 'unknown'),
        serial,
        macAddresses: macs.map((mac) => mac.toLowerCase()),
        inventoryIntervalSec: this.config.AGENT_INVENTORY_INTERVAL_SEC,
        healthIntervalSec: this.config.AGENT_HEALTH_INTERVAL_SEC,
        approvalState: token.requiresApproval ? ('pending' as const) : ('approved' as const),
      } satisfies Partial<AgentEntity>;
      await tx.db.getRepository(AgentEntity).insert(agent);
      await this.audit.record(tx, {
        action: 'agent.enroll',
        actor: agentActor(agentId, agent.hostname, `enrollment_token:${token.id}`),
        tenantId: site.tenantId,
        target: { type: 'agent', id: agentId },
        source: { ip: source.ip ?? null, userAgent: null },
        after: agent,
        details: {
          enrollmentTokenId: token.id,
          tokenUses: token.uses + 1,
          tokenMaxUses: token.maxUses,
          approval: agent.approvalState,
          csr: csrKey !== null,
        },
      });

      if (token.requiresApproval) {
        const pollSecret = newSecret();
        await tx.db.query(
          `INSERT INTO agent_pending_enrollments (tenant_id, agent_id, poll_secret_hash, csr_pem)
           VALUES ($1, $2, $3, $4)`,
          [site.tenantId, agentId, hashSecret(pollSecret), request.csrPem || null],
        );
        return this.pendingResponse(agentId, organizationId, site, pollSecret);
      }
      const identity = await this.issueIdentity(tx, { agentId, organizationId, site, csrKey });
      provisioned = agentId;
      return identity;
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
            details: { reason: refused.reason, serial },
          },
        );
      }
      throw error;
    });
  }

  /**
   * A pending agent asks whether it was approved, proving itself with its poll secret. Approved: its
   * credentials (and certificate, for the CSR it enrolled with) are issued now, once, and the pending
   * record goes. Still pending: it is told to wait. Rejected or revoked: refused.
   */
  async poll(request: PollEnrollmentRequest): Promise<EnrollResponse> {
    this.requireProtocol(request.protocolVersion);
    const invalid = () =>
      new EnrollmentException(
        EnrollmentErrorCode.POLL_SECRET_INVALID,
        'no enrollment waits for this agent id, tenant and poll secret',
      );
    if (!UUID.test(request.agentId ?? '') || !UUID.test(request.tenantId ?? '') || !request.pollSecret) {
      throw invalid();
    }
    let provisioned: string | null = null;
    const scope = { organizationId: null, tenantIds: [request.tenantId] };
    const exchange = this.tenantDb.run<EnrollResponse>(scope, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT p.poll_secret_hash, p.csr_pem
           FROM agent_pending_enrollments p
          WHERE p.tenant_id = $1 AND p.agent_id = $2
          FOR UPDATE`,
        [request.tenantId, request.agentId],
      )) as { poll_secret_hash: Buffer; csr_pem: string | null }[];
      const pending = rows[0];
      if (!pending || !secretMatches(request.pollSecret, pending.poll_secret_hash)) throw invalid();
      const agent = await tx.db
        .getRepository(AgentEntity)
        .findOneByOrFail({ tenantId: request.tenantId, id: request.agentId });
      if (agent.revokedAt)
        throw new EnrollmentException(EnrollmentErrorCode.AGENT_REVOKED, 'the agent was revoked');
      if (agent.approvalState === 'rejected') {
        throw new EnrollmentException(
          EnrollmentErrorCode.ENROLLMENT_REJECTED,
          'a technician rejected this enrollment; enroll again with a new token',
        );
      }
      const site = await this.sites.require(tx, agent.siteId);
      const organizationId = await this.organizationOf(tx, agent.tenantId);
      if (agent.approvalState === 'pending') {
        return this.pendingResponse(agent.id, organizationId, site, '');
      }
      // The CSR was verified at enrollment; it is read again from storage, so it is checked again.
      const csrKey = pending.csr_pem ? await verifiedCsrPublicKey(pending.csr_pem) : null;
      await tx.db.query(`DELETE FROM agent_pending_enrollments WHERE tenant_id = $1 AND agent_id = $2`, [
        agent.tenantId,
        agent.id,
      ]);
      const identity = await this.issueIdentity(tx, { agentId: agent.id, organizationId, site, csrKey });
      await this.audit.record(tx, {
        action: 'agent.credentials_issued',
        actor: agentActor(agent.id, agent.hostname, 'poll_secret'),
        tenantId: agent.tenantId,
        target: { type: 'agent', id: agent.id },
        details: { certificate: csrKey !== null },
      });
      provisioned = agent.id;
      return identity;
    });
    return exchange.catch(async (error: unknown) => {
      if (provisioned) await this.brokerProvisioning.deprovisionAgent(provisioned);
      throw error;
    });
  }

  /** A technician accepts a pending agent; it collects its credentials on its next poll. */
  approve(auth: Principal, id: string): Promise<AgentEntity> {
    return this.decide(auth, id, 'approved');
  }

  /** A technician refuses a pending agent: it never gets credentials. */
  reject(auth: Principal, id: string): Promise<AgentEntity> {
    return this.decide(auth, id, 'rejected');
  }

  private decide(auth: Principal, id: string, decision: 'approved' | 'rejected'): Promise<AgentEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const repo = tx.db.getRepository(AgentEntity);
      const agent = await repo
        .createQueryBuilder('a')
        .where('a.tenant_id = ANY(:allowed) AND a.id = :id', { allowed: tx.tenantIds, id })
        .setLock('pessimistic_write')
        .getOne();
      if (!agent) throw AppException.notFound('agent', id);
      if (agent.approvalState === decision) return agent;
      if (agent.approvalState !== 'pending' || agent.revokedAt) {
        throw new AppException(
          'AGENT_NOT_PENDING',
          HttpStatus.CONFLICT,
          `agent ${id} is ${agent.revokedAt ? 'revoked' : agent.approvalState}, not pending approval`,
          { approvalState: agent.approvalState },
        );
      }
      await repo.update({ tenantId: agent.tenantId, id }, { approvalState: decision });
      await this.audit.record(tx, {
        action: decision === 'approved' ? 'agent.approve' : 'agent.reject',
        actor: principalActor(auth),
        tenantId: agent.tenantId,
        target: { type: 'agent', id },
        before: { approvalState: 'pending' },
        after: { approvalState: decision },
        details: { hostname: agent.hostname, serial: agent.serial },
      });
      return repo.findOneByOrFail({ tenantId: agent.tenantId, id });
    });
  }

  /**
   * A new certificate for an agent that proved itself with its current one (mutual TLS), for the key pair
   * of its new CSR.
   */
  async renewCertificate(
    agent: CertifiedAgent,
    request: RenewCertificateRequest,
  ): Promise<RenewCertificateResponse> {
    let csrKey: x509.PublicKey;
    try {
      csrKey = await verifiedCsrPublicKey(request.csrPem ?? '');
    } catch (error) {
      if (error instanceof CsrError)
        throw new EnrollmentException(EnrollmentErrorCode.CSR_INVALID, error.message);
      throw error;
    }
    return this.tenantDb.run({ organizationId: null, tenantIds: [agent.tenantId] }, async (tx) => {
      const issued = await this.pki.issueAgentCertificate(tx.db, csrKey, agent);
      await this.audit.record(tx, {
        action: 'agent.certificate_renew',
        actor: agentActor(agent.agentId, null, 'client_certificate'),
        tenantId: agent.tenantId,
        target: { type: 'agent', id: agent.agentId },
        details: { serial: issued.serial, notAfter: issued.notAfter.toISOString() },
      });
      return { certificatePem: issued.certificatePem, caChainPem: issued.caChainPem };
    });
  }

  private requireProtocol(version: number): void {
    if (version !== PROTOCOL_VERSION) {
      throw new EnrollmentException(
        EnrollmentErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
        `protocol version ${version} is not supported; this control plane speaks ${PROTOCOL_VERSION}`,
      );
    }
  }

  private async organizationOf(tx: TenantTx, tenantId: string): Promise<string> {
    const rows = (await tx.db.query(`SELECT organization_id FROM tenants WHERE id = $1`, [tenantId])) as {
      organization_id: string;
    }[];
    const organizationId = rows[0]?.organization_id;
    if (!organizationId) throw new Error(`tenant ${tenantId} has no organization`);
    return organizationId;
  }

  private pendingResponse(
    agentId: string,
    organizationId: string,
    site: { id: string; tenantId: string; timeZone: string },
    pollSecret: string,
  ): EnrollResponse {
    return {
      agentId,
      organizationId,
      tenantId: site.tenantId,
      siteId: site.id,
      certificatePem: '',
      caChainPem: [],
      mqtt: { url: '', clientId: '', username: '', password: '', topicPrefix: '', protocolVersion: 5 },
      config: { inventoryIntervalSec: 0, healthIntervalSec: 0 },
      siteTimeZone: site.timeZone,
      approvalState: 'pending',
      pollSecret,
      pollAfterSec: this.config.ENROLLMENT_POLL_INTERVAL_SEC,
      ...this.tlsEndpoint(),
    };
  }

  private tlsEndpoint(): { grpcTlsAddress: string; grpcServerCaPem: string } {
    const endpoint = this.pki.tlsEndpointForAgents();
    return { grpcTlsAddress: endpoint.address, grpcServerCaPem: endpoint.serverCaPem };
  }

  /**
   * The agent's working identity: its MQTT secret (stored hashed), the broker prepared for it, and a
   * certificate when it sent a CSR. Runs inside the enrollment's (or approval poll's) transaction.
   */
  private async issueIdentity(
    tx: TenantTx,
    input: {
      agentId: string;
      organizationId: string;
      site: { id: string; tenantId: string; timeZone: string };
      csrKey: x509.PublicKey | null;
    },
  ): Promise<EnrollResponse> {
    const { agentId, organizationId, site } = input;
    const secret = newSecret();
    await tx.db.query(
      `INSERT INTO agent_credentials (agent_id, tenant_id, site_id, secret_hash) VALUES ($1, $2, $3, $4)`,
      [agentId, site.tenantId, site.id, hashSecret(secret)],
    );
    const certificate = input.csrKey
      ? await this.pki.issueAgentCertificate(tx.db, input.csrKey, {
          agentId,
          tenantId: site.tenantId,
          organizationId,
        })
      : null;
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
    return {
      agentId,
      organizationId,
      tenantId: site.tenantId,
      siteId: site.id,
      certificatePem: certificate?.certificatePem ?? '',
      caChainPem: certificate?.caChainPem ?? [],
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
      approvalState: 'approved',
      pollSecret: '',
      pollAfterSec: 0,
      ...this.tlsEndpoint(),
    };
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
