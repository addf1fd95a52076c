/**
 * Personal API tokens for automation: `mfp_<id>_<secret>`, shown once, stored as a hash, limited to a
 * subset of the user's permissions, expiring, revocable. The resolver re-reads the user on every use, so
 * a disabled user's tokens stop at once and a demoted user's tokens shrink with the role.
 */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuthenticationService, type CredentialResolver } from '../../common/auth/authentication.service.js';
import type { Permission } from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page, type PageQuery } from '../../common/pagination.js';
import { hashSecret, newSecret, secretMatches } from '../../common/secrets.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { IdentityAuditAction } from './identity-audit.js';
import { withCredential } from './credential-lookup.js';
import { IdentityClock } from './identity-clock.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import { isUserPrincipal, tokenPrincipal } from './identity-principal.js';
import type { CreatePersonalTokenDto } from './personal-token.dto.js';
import { UserRepository } from './user.repository.js';

export const PERSONAL_TOKEN_PREFIX = 'mfp_';
const TOKEN = /^mfp_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

interface TokenRow {
  id: string;
  userId: string;
  organizationId: string;
  name: string;
  tokenHash: Buffer;
  permissions: Permission[];
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface PersonalTokenView {
  id: string;
  name: string;
  permissions: Permission[];
  state: 'active' | 'expired' | 'revoked';
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const COLUMNS = `id, user_id AS "userId", organization_id AS "organizationId", name, token_hash AS "tokenHash",
  permissions, created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt",
  revoked_at AS "revokedAt"`;

@Injectable()
export class PersonalTokenService implements OnModuleInit, CredentialResolver {
  private readonly maxLifetimeMs: number;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly authentication: AuthenticationService,
    private readonly clock: IdentityClock,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.maxLifetimeMs = config.PERSONAL_TOKEN_MAX_DAYS * 86_400_000;
  }

  onModuleInit(): void {
    this.authentication.register(PERSONAL_TOKEN_PREFIX, this);
  }

  async resolve(token: string): Promise<Principal | null> {
    const match = TOKEN.exec(token);
    if (!match) return null;
    const [, id, secret] = match as unknown as [string, string, string];
    const row = await withCredential(this.tenantDb, id, (db) => this.byId(db, id));
    if (!row || !secretMatches(secret, row.tokenHash) || this.stateOf(row) !== 'active') return null;
    return this.tenantDb.run({ organizationId: row.organizationId, tenantIds: [] }, async (tx) => {
      const user = await UserRepository.byId(tx.db, row.organizationId, row.userId);
      if (!user || user.disabledAt) return null;
      const now = this.clock.now();
      if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= 60_000) {
        await tx.db.query(`UPDATE personal_tokens SET last_used_at = $2 WHERE id = $1`, [row.id, now]);
      }
      return tokenPrincipal(user, row.id, row.permissions);
    });
  }

  async create(auth: Principal, dto: CreatePersonalTokenDto): Promise<PersonalTokenView & { token: string }> {
    if (!isUserPrincipal(auth) || auth.kind !== 'user') {
      throw IdentityException.sessionRequired('Creating a personal token');
    }
    const beyond = dto.permissions.filter((permission) => !auth.permissions.has(permission));
    if (beyond.length > 0) {
      throw new IdentityException(
        IdentityErrorCode.TOKEN_PERMISSIONS_EXCEED_ROLE,
        HttpStatus.FORBIDDEN,
        `A token cannot have permissions its user lacks: ${beyond.join(', ')}`,
        { permissions: beyond, role: auth.role },
      );
    }
    const now = this.clock.now();
    const lifetime = dto.expiresAt.getTime() - now.getTime();
    if (lifetime < 60_000 || lifetime > this.maxLifetimeMs) {
      throw new IdentityException(
        IdentityErrorCode.TOKEN_EXPIRY_INVALID,
        HttpStatus.BAD_REQUEST,
        `expiresAt must be between one minute and ${this.maxLifetimeMs / 86_400_000} days from now`,
        { maxDays: this.maxLifetimeMs / 86_400_000 },
      );
    }
    const id = randomUUID();
    const secret = newSecret();
    return this.tenantDb.run({ organizationId: auth.organizationId, tenantIds: [] }, async (tx) => {
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId);
      if (!user) throw IdentityException.sessionRequired('Creating a personal token');
      const rows = (await tx.db.query(
        `INSERT INTO personal_tokens (id, user_id, organization_id, tenant_id, name, token_hash, permissions,
                                      created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
        [
          id,
          user.id,
          user.organizationId,
          user.tenantId,
          dto.name,
          hashSecret(secret),
          dto.permissions,
          now,
          dto.expiresAt,
        ],
      )) as TokenRow[];
      const view = this.view(rows[0] as TokenRow);
      await this.audit.record(tx, {
        action: IdentityAuditAction.tokenCreate,
        actor: principalActor(auth),
        tenantId: user.tenantId,
        target: { type: 'personal_token', id },
        after: view,
      });
      return { ...view, token: `${PERSONAL_TOKEN_PREFIX}${id}_${secret}` };
    });
  }

  /** The caller's own tokens; an API key has none. */
  async list(auth: Principal, query: PageQuery): Promise<Page<PersonalTokenView>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    if (!isUserPrincipal(auth)) return { items: [], nextCursor: null };
    const rows = await this.tenantDb.run(
      { organizationId: auth.organizationId, tenantIds: [] },
      (tx) =>
        tx.db.query(
          `SELECT ${COLUMNS} FROM personal_tokens
            WHERE user_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3`,
          [auth.userId, after, limit + 1],
        ) as Promise<TokenRow[]>,
    );
    return toPage(
      rows.map((row) => this.view(row)),
      limit,
    );
  }

  /** Revokes one of the caller's own tokens (idempotent); another user's token is not found. */
  async revoke(auth: Principal, id: string): Promise<PersonalTokenView> {
    if (!isUserPrincipal(auth)) throw AppException.notFound('personal token', id);
    return this.tenantDb.run({ organizationId: auth.organizationId, tenantIds: [] }, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT ${COLUMNS} FROM personal_tokens WHERE id = $1 AND user_id = $2 FOR UPDATE`,
        [id, auth.userId],
      )) as TokenRow[];
      const row = rows[0];
      if (!row) throw AppException.notFound('personal token', id);
      if (row.revokedAt) return this.view(row);
      const before = this.view(row);
      const revokedAt = this.clock.now();
      await tx.db.query(`UPDATE personal_tokens SET revoked_at = $2 WHERE id = $1`, [id, revokedAt]);
      const after = this.view({ ...row, revokedAt });
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId);
      await this.audit.record(tx, {
        action: IdentityAuditAction.tokenRevoke,
        actor: principalActor(auth),
        tenantId: user?.tenantId ?? null,
        target: { type: 'personal_token', id },
        before,
        after,
      });
      return after;
    });
  }

  private async byId(db: EntityManager, id: string): Promise<TokenRow | null> {
    const rows = (await db.query(`SELECT ${COLUMNS} FROM personal_tokens WHERE id = $1`, [id])) as TokenRow[];
    return rows[0] ?? null;
  }

  private stateOf(row: TokenRow): PersonalTokenView['state'] {
    if (row.revokedAt) return 'revoked';
    return row.expiresAt.getTime() <= this.clock.now().getTime() ? 'expired' : 'active';
  }

  private view(row: TokenRow): PersonalTokenView {
    return {
      id: row.id,
      name: row.name,
      permissions: row.permissions,
      state: this.stateOf(row),
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      lastUsedAt: row.lastUsedAt,
      revokedAt: row.revokedAt,
    };
  }
}
