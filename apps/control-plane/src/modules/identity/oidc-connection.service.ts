/** Per-organization OpenID Connect configuration: MSP administrators only; the client secret never leaves. */
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Role } from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import { AppException, ErrorCode } from '../../common/errors/app-exception.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { operatorActor, principalActor, type AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { IdentityAuditAction } from './identity-audit.js';
import { isOrganizationRole } from './identity-principal.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import type { PutOidcConnectionDto } from './oidc-connection.dto.js';
import { organizationBySlug } from './organization-lookup.js';
import { SecretBox } from './secret-box.js';

export interface OidcConnection {
  organizationId: string;
  issuer: string;
  clientId: string;
  /** Decrypted, for the token endpoint. */
  clientSecret: string;
  allowedEmailDomains: string[];
  newUserRole: Role | null;
  newUserTenantId: string | null;
  mfaAmrValues: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type OidcConnectionView = Omit<OidcConnection, 'clientSecret'> & {
  clientSecretSet: true;
  redirectUri: string;
};

export const DEFAULT_MFA_AMR = ['mfa', 'otp'];

const COLUMNS = `organization_id AS "organizationId", issuer, client_id AS "clientId", client_secret AS "clientSecret",
  allowed_email_domains AS "allowedEmailDomains", new_user_role AS "newUserRole",
  new_user_tenant_id AS "newUserTenantId", mfa_amr_values AS "mfaAmrValues", enabled, created_at AS "createdAt",
  updated_at AS "updatedAt"`;

@Injectable()
export class OidcConnectionService {
  readonly redirectUri: string;
  private readonly allowHttp: boolean;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly secrets: SecretBox,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const base = config.PUBLIC_BASE_URL ?? `http://${config.HOST}:${config.PORT}`;
    this.redirectUri = `${base.replace(/\/+$/, '')}/api/v1/auth/oidc/callback`;
    this.allowHttp = config.OIDC_ALLOW_HTTP_ISSUERS;
  }

  async get(auth: Principal, organizationId: string): Promise<OidcConnectionView> {
    this.assertOwnOrganization(auth, organizationId);
    const connection = await this.tenantDb.run(auth.scope, (tx) => this.find(tx, organizationId));
    if (!connection) throw AppException.notFound('oidc connection', organizationId);
    return this.view(connection);
  }

  async put(auth: Principal, organizationId: string, dto: PutOidcConnectionDto): Promise<OidcConnectionView> {
    this.assertOwnOrganization(auth, organizationId);
    if (auth.role !== 'msp_admin') {
      throw new IdentityException(
        IdentityErrorCode.SSO_MSP_ADMIN_ONLY,
        HttpStatus.FORBIDDEN,
        "Only an MSP administrator can configure the organization's single sign-on",
      );
    }
    return this.tenantDb.run(auth.scope, (tx) => this.save(tx, organizationId, dto, principalActor(auth)));
  }

  /** `configure-oidc` at the command line: an operator's act. */
  async putByOperator(organizationSlug: string, dto: PutOidcConnectionDto): Promise<OidcConnectionView> {
    const organization = await organizationBySlug(this.tenantDb, organizationSlug);
    if (!organization) throw AppException.notFound('organization', organizationSlug);
    return this.tenantDb.run({ organizationId: organization.id, tenantIds: [] }, (tx) =>
      this.save(tx, organization.id, dto, operatorActor('configure-oidc')),
    );
  }

  async find(tx: TenantTx, organizationId: string): Promise<OidcConnection | null> {
    const rows = (await tx.db.query(`SELECT ${COLUMNS} FROM oidc_connections WHERE organization_id = $1`, [
      organizationId,
    ])) as OidcConnection[];
    const row = rows[0];
    return row ? { ...row, clientSecret: this.secrets.open(row.clientSecret) } : null;
  }

  private async save(
    tx: TenantTx,
    organizationId: string,
    dto: PutOidcConnectionDto,
    actor: AuditActor,
  ): Promise<OidcConnectionView> {
    if (new URL(dto.issuer).protocol !== 'https:' && !this.allowHttp) {
      throw invalid('issuer must be an https URL (OIDC_ALLOW_HTTP_ISSUERS allows http for development)');
    }
    const role = dto.newUserRole ?? null;
    const tenantId = dto.newUserTenantId ?? null;
    if (role !== null && !isOrganizationRole(role)) {
      if (!tenantId) throw invalid('newUserTenantId is required when newUserRole is a practice role');
      if (!tx.tenantIds.includes(tenantId)) throw AppException.notFound('tenant', tenantId);
    } else if (tenantId) {
      throw invalid('newUserTenantId applies to practice roles only');
    }
    const existing = await this.find(tx, organizationId);
    if (!existing && dto.clientSecret === undefined)
      throw invalid('clientSecret is required on the first configuration');
    const secret = this.secrets.seal(dto.clientSecret ?? (existing as OidcConnection).clientSecret);
    const values = [
      organizationId,
      dto.issuer,
      dto.clientId,
      secret,
      dto.allowedEmailDomains,
      role,
      tenantId,
      dto.mfaAmrValues ?? existing?.mfaAmrValues ?? DEFAULT_MFA_AMR,
      dto.enabled ?? true,
    ];
    await tx.db.query(
      `INSERT INTO oidc_connections (organization_id, issuer, client_id, client_secret, allowed_email_domains,
                                     new_user_role, new_user_tenant_id, mfa_amr_values, enabled)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (organization_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret = $4,
         allowed_email_domains = $5, new_user_role = $6, new_user_tenant_id = $7, mfa_amr_values = $8,
         enabled = $9, updated_at = now()`,
      values,
    );
    const saved = (await this.find(tx, organizationId)) as OidcConnection;
    await this.audit.record(tx, {
      action: IdentityAuditAction.ssoConnectionUpdate,
      actor,
      organizationId,
      target: { type: 'oidc_connection', id: organizationId },
      before: existing ? this.view(existing) : null,
      after: this.view(saved),
      details: { clientSecretChanged: dto.clientSecret !== undefined },
    });
    return this.view(saved);
  }

  /** SSO belongs to the organization: only its organization-wide principals see or change it. */
  private assertOwnOrganization(auth: Principal, organizationId: string): void {
    if (organizationId !== auth.organizationId || auth.scope.organizationId === null) {
      throw AppException.notFound('organization', organizationId);
    }
  }

  private view(connection: OidcConnection): OidcConnectionView {
    const { clientSecret: _secret, ...rest } = connection;
    return { ...rest, clientSecretSet: true, redirectUri: this.redirectUri };
  }
}

function invalid(message: string): AppException {
  return new AppException(ErrorCode.VALIDATION_FAILED, HttpStatus.BAD_REQUEST, message);
}
