/** Organization API keys: `mfk_<keyId>_<secret>`, shown once, stored as a hash. */
import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { AuthenticationService, type CredentialResolver } from '../../common/auth/authentication.service.js';
import { apiKeyPrincipal, type Principal } from '../../common/auth/principal.js';
import { hashSecret, newSecret, secretMatches } from '../../common/secrets.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { systemActor, type AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { OrgApiKeyEntity } from './organization.entity.js';

const KEY_PATTERN =
  /^mfk_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

@Injectable()
export class ApiKeyService implements OnModuleInit, CredentialResolver {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly authentication: AuthenticationService,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.authentication.register('mfk_', this);
  }

  resolve(token: string): Promise<Principal | null> {
    return this.authenticate(token);
  }

  async authenticate(token: string): Promise<Principal | null> {
    const match = KEY_PATTERN.exec(token);
    if (!match) return null;
    const [, keyId, secret] = match as unknown as [string, string, string];
    return this.tenantDb.unscoped(async (db) => {
      const key = await db.getRepository(OrgApiKeyEntity).findOneBy({ id: keyId });
      if (!key || key.revokedAt !== null || !secretMatches(secret, key.keyHash)) return null;
      await db.query(
        `UPDATE org_api_keys SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
        [key.id],
      );
      return apiKeyPrincipal(key.id, key.organizationId);
    });
  }

  /** Creates a key inside an organization-scoped transaction; the returned token is never stored. */
  async create(
    tx: TenantTx,
    organizationId: string,
    name: string,
    actor: AuditActor = systemActor('control plane'),
  ): Promise<{ id: string; token: string }> {
    const id = randomUUID();
    const secret = newSecret();
    await tx.db
      .getRepository(OrgApiKeyEntity)
      .insert({ id, organizationId, name, keyHash: hashSecret(secret) });
    await this.audit.record(tx, {
      action: 'api_key.create',
      actor,
      organizationId,
      target: { type: 'api_key', id },
      after: { id, organizationId, name },
    });
    return { id, token: `mfk_${id}_${secret}` };
  }
}
