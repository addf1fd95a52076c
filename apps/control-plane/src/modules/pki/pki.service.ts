/**
 * The agent PKI: one root CA per deployment, one CA per organization (created on first need) that signs
 * its agents' client certificates, and the checks on a certificate presented over mutual TLS.
 */
import { X509Certificate as NodeX509Certificate, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import type { EntityManager } from 'typeorm';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb } from '../../database/tenant-db.js';
import {
  agentCertificateNames,
  createOrganizationCa,
  createRootCa,
  issueAgentCertificate,
  issueServerCertificate,
  keyedCertificate,
  type AgentCertificateSubject,
  type IssuedCertificate,
  type KeyedCertificate,
} from './certificates.util.js';
import { KeySealer } from './key-sealer.js';
import type * as x509 from '@peculiar/x509';

export interface Authority {
  keyed: KeyedCertificate;
  certificatePem: string;
}

/** An agent proven by its client certificate. */
export interface CertifiedAgent extends AgentCertificateSubject {
  siteId: string;
}

/** Why a client certificate was not accepted; the message starts with a stable code. */
export class CertificateRefusal extends Error {
  constructor(
    readonly grpcStatus: status,
    message: string,
  ) {
    super(message);
    this.name = 'CertificateRefusal';
  }
}

export interface GrpcServerTls {
  certificatePem: string;
  privateKeyPem: string;
  /** The CA agents must trust for this endpoint, when the control plane issued the certificate. */
  serverCaPem: string | null;
  /** Client certificates must chain to this root. */
  clientRootPem: string;
}

interface AuthorityRow {
  certificate_pem: string;
  private_key_sealed: string;
}

@Injectable()
export class PkiService {
  private readonly logger = new Logger(PkiService.name);
  private readonly sealer: KeySealer;
  private root: Promise<Authority> | null = null;
  /** Only authorities read back as already stored are kept: one created in a rolled-back transaction is not. */
  private readonly organizationCas = new Map<string, Authority>();
  private tlsEndpoint: { address: string; serverCaPem: string | null } | null = null;

  constructor(
    private readonly tenantDb: TenantDb,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sealer = KeySealer.fromConfig(config.PKI_KEY_ENCRYPTION_KEY, config.DATA_DIR);
  }

  /** Set at start: where agents reach the TLS gRPC endpoint, and the CA to trust for it. */
  useTlsEndpoint(endpoint: { address: string; serverCaPem: string | null }): void {
    this.tlsEndpoint = endpoint;
  }

  tlsEndpointForAgents(): { address: string; serverCaPem: string } {
    return {
      address: this.tlsEndpoint?.address ?? '',
      serverCaPem: this.tlsEndpoint?.serverCaPem ?? '',
    };
  }

  /** The deployment's root CA, created once (the first replica to get there wins, the others read it). */
  rootCa(): Promise<Authority> {
    this.root ??= this.loadOrCreateRoot().catch((error: unknown) => {
      this.root = null;
      throw error;
    });
    return this.root;
  }

  private async loadOrCreateRoot(): Promise<Authority> {
    const existing = await this.tenantDb.unscoped((db) => this.selectAuthority(db, 'root', null));
    if (existing) return this.open(existing);
    const created = await createRootCa();
    await this.tenantDb.unscoped((db) =>
      db.query(
        `INSERT INTO certificate_authorities (id, kind, organization_id, certificate_pem, private_key_sealed)
         VALUES ($1, 'root', NULL, $2, $3) ON CONFLICT (kind) WHERE kind = 'root' DO NOTHING`,
        [randomUUID(), created.certificatePem, this.sealer.seal(created.privateKeyPem)],
      ),
    );
    const stored = await this.tenantDb.unscoped((db) => this.selectAuthority(db, 'root', null));
    if (!stored) throw new Error('the root CA could not be stored');
    this.logger.log('agent PKI root CA created');
    return this.open(stored);
  }

  /**
   * The organization's CA, created on first need inside the caller's transaction (`db`), so that it
   * exists exactly when the enrollment that needed it commits.
   */
  async organizationCa(db: EntityManager, organizationId: string): Promise<Authority> {
    const cached = this.organizationCas.get(organizationId);
    if (cached) return cached;
    const existing = await this.selectAuthority(db, 'organization', organizationId);
    if (existing) {
      const opened = await this.open(existing);
      this.organizationCas.set(organizationId, opened);
      return opened;
    }
    const created = await createOrganizationCa((await this.rootCa()).keyed, organizationId);
    await db.query(
      `INSERT INTO certificate_authorities (id, kind, organization_id, certificate_pem, private_key_sealed)
       VALUES ($1, 'organization', $2, $3, $4) ON CONFLICT (organization_id) DO NOTHING`,
      [randomUUID(), organizationId, created.certificatePem, this.sealer.seal(created.privateKeyPem)],
    );
    const stored = await this.selectAuthority(db, 'organization', organizationId);
    if (!stored) throw new Error(`the CA of organization ${organizationId} could not be stored`);
    return this.open(stored);
  }

  /**
   * Signs an agent's verified CSR key with its organization's CA and records the certificate (in `db`,
   * the caller's tenant-scoped transaction). Answers the certificate and the chain up to the root.
   */
  async issueAgentCertificate(
    db: EntityManager,
    publicKey: x509.PublicKey,
    subject: AgentCertificateSubject,
  ): Promise<IssuedCertificate & { caChainPem: string[] }> {
    const organizationCa = await this.organizationCa(db, subject.organizationId);
    const issued = await issueAgentCertificate(
      organizationCa.keyed,
      publicKey,
      subject,
      this.config.AGENT_CERT_LIFETIME_SEC,
    );
    await db.query(
      `INSERT INTO agent_certificates (tenant_id, serial, agent_id, fingerprint_sha256, not_before, not_after)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        subject.tenantId,
        issued.serial,
        subject.agentId,
        issued.fingerprintSha256,
        issued.notBefore,
        issued.notAfter,
      ],
    );
    const root = await this.rootCa();
    return { ...issued, caChainPem: [organizationCa.certificatePem, root.certificatePem] };
  }

  /** The gRPC TLS endpoint's key and certificate: configured files, or issued by the root at each start. */
  async grpcServerTls(extraHosts: readonly string[] = []): Promise<GrpcServerTls> {
    const root = await this.rootCa();
    const { GRPC_TLS_CERT_FILE: certFile, GRPC_TLS_KEY_FILE: keyFile } = this.config;
    if (certFile && keyFile) {
      return {
        certificatePem: await readFile(certFile, 'utf8'),
        privateKeyPem: await readFile(keyFile, 'utf8'),
        serverCaPem: null,
        clientRootPem: root.certificatePem,
      };
    }
    const wildcard = ['0.0.0.0', '::', '[::]'];
    const hosts = [this.config.GRPC_HOST, ...extraHosts, 'localhost', '127.0.0.1', '::1', os.hostname()]
      .map((host) => host.replace(/^\[|\]$/g, ''))
      .filter((host) => !wildcard.includes(host));
    const issued = await issueServerCertificate(root.keyed, hosts);
    return { ...issued, serverCaPem: root.certificatePem, clientRootPem: root.certificatePem };
  }

  /**
   * Checks a client certificate (DER) the TLS layer has already chained to the root: issued by the CA of
   * the organization it names, recorded for the agent it names, and that agent approved and not revoked.
   */
  async verifyAgentCertificate(der: Buffer): Promise<CertifiedAgent> {
    const refuse = (message: string) => new CertificateRefusal(status.UNAUTHENTICATED, message);
    let leaf: NodeX509Certificate;
    try {
      leaf = new NodeX509Certificate(der);
    } catch {
      throw refuse('CERTIFICATE_INVALID: the client certificate cannot be read');
    }
    const names = agentCertificateNames(leaf);
    if (!names) throw refuse('CERTIFICATE_INVALID: not an agent certificate');
    const now = Date.now();
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) {
      throw refuse('CERTIFICATE_EXPIRED: the client certificate is not valid now');
    }
    const fingerprint = leaf.fingerprint256.replaceAll(':', '').toLowerCase();
    // Scoped to the tenant the certificate names: a certificate that lies about it finds nothing.
    const { caRow, rows } = await this.tenantDb.run(
      { organizationId: null, tenantIds: [names.tenantId] },
      async (tx) => ({
        caRow: await this.selectAuthority(tx.db, 'organization', names.organizationId),
        rows: (await tx.db.query(
          `SELECT a.site_id, a.revoked_at, a.approval_state, t.organization_id,
                  EXISTS (SELECT 1 FROM agent_certificates c
                           WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id AND c.fingerprint_sha256 = $3) AS known
             FROM agents a JOIN tenants t ON t.id = a.tenant_id
            WHERE a.tenant_id = $1 AND a.id = $2`,
          [names.tenantId, names.agentId, fingerprint],
        )) as {
          site_id: string;
          revoked_at: Date | null;
          approval_state: string;
          organization_id: string;
          known: boolean;
        }[],
      }),
    );
    const ca = caRow ? new NodeX509Certificate(caRow.certificate_pem) : null;
    if (!ca || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
      throw refuse('CERTIFICATE_INVALID: not issued by the CA of the organization it names');
    }
    const agent = rows[0];
    if (!agent || agent.organization_id !== names.organizationId || !agent.known) {
      throw refuse('CERTIFICATE_UNKNOWN: this certificate was not issued to this agent');
    }
    if (agent.revoked_at) throw refuse('AGENT_REVOKED: the agent was revoked');
    if (agent.approval_state !== 'approved') {
      throw new CertificateRefusal(status.PERMISSION_DENIED, 'AGENT_NOT_APPROVED: the agent is not approved');
    }
    return { ...names, siteId: agent.site_id };
  }

  private async selectAuthority(
    db: EntityManager,
    kind: 'root' | 'organization',
    organizationId: string | null,
  ): Promise<AuthorityRow | null> {
    const rows = (await db.query(
      kind === 'root'
        ? `SELECT certificate_pem, private_key_sealed FROM certificate_authorities WHERE kind = 'root'`
        : `SELECT certificate_pem, private_key_sealed FROM certificate_authorities WHERE organization_id = $1`,
      kind === 'root' ? [] : [organizationId],
    )) as AuthorityRow[];
    return rows[0] ?? null;
  }

  private async open(row: AuthorityRow): Promise<Authority> {
    return {
      keyed: await keyedCertificate(row.certificate_pem, this.sealer.open(row.private_key_sealed)),
      certificatePem: row.certificate_pem,
    };
  }
}
