/**
 * Sessions: opaque bearer tokens `mfs_<id>_<secret>`, stored as a SHA-256 hash, with an idle and an
 * absolute timeout. The resolver re-reads the user on every request, so signing out, disabling the user or
 * changing their role takes effect at once. A sign-in that still owes its second factor gets an
 * MFA-limited session instead, `mfm_<id>_<secret>`: no resolver accepts it, only the MFA steps do.
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuthenticationService, type CredentialResolver } from '../../common/auth/authentication.service.js';
import type { Principal } from '../../common/auth/principal.js';
import { hashSecret, newSecret, secretMatches } from '../../common/secrets.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb } from '../../database/tenant-db.js';
import { withCredential } from './credential-lookup.js';
import { IdentityClock } from './identity-clock.js';
import { sessionPrincipal } from './identity-principal.js';
import { UserRepository, type UserRecord } from './user.repository.js';

export type SessionStage = 'full' | 'mfa_enrollment' | 'mfa_verification';
export type SignInMethod = 'password' | 'oidc';

export const SESSION_PREFIX = 'mfs_';
export const MFA_SESSION_PREFIX = 'mfm_';
const TOKEN =
  /^(mfs|mfm)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
/** An MFA-limited session lives long enough to open an authenticator app, not longer. */
const MFA_SESSION_SECONDS = 600;

export interface SessionRecord {
  id: string;
  userId: string;
  organizationId: string;
  tokenHash: Buffer;
  stage: SessionStage;
  method: SignInMethod;
  mfa: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

export interface IssuedSession {
  id: string;
  token: string;
  stage: SessionStage;
  expiresAt: Date;
}

const COLUMNS = `id, user_id AS "userId", organization_id AS "organizationId", token_hash AS "tokenHash", stage,
  method, mfa, created_at AS "createdAt", last_seen_at AS "lastSeenAt", expires_at AS "expiresAt",
  revoked_at AS "revokedAt"`;

@Injectable()
export class SessionService implements OnModuleInit, CredentialResolver {
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  /** last_seen_at is written at most this often per session: the idle timeout is kept to within it. */
  private readonly touchEveryMs: number;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly authentication: AuthenticationService,
    private readonly clock: IdentityClock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.idleMs = config.SESSION_IDLE_TIMEOUT_SEC * 1000;
    this.absoluteMs = config.SESSION_ABSOLUTE_TIMEOUT_SEC * 1000;
    this.touchEveryMs = Math.min(60_000, this.idleMs / 10);
  }

  onModuleInit(): void {
    this.authentication.register(SESSION_PREFIX, this);
  }

  get idleTimeoutSeconds(): number {
    return this.idleMs / 1000;
  }

  async issue(
    db: EntityManager,
    user: UserRecord,
    options: { stage: SessionStage; method: SignInMethod; mfa: boolean; ip: string | null },
  ): Promise<IssuedSession> {
    const id = randomUUID();
    const secret = newSecret();
    const now = this.clock.now();
    const lifetime =
      options.stage === 'full' ? this.absoluteMs : Math.min(this.absoluteMs, MFA_SESSION_SECONDS * 1000);
    const expiresAt = new Date(now.getTime() + lifetime);
    await db.query(
      `INSERT INTO user_sessions (id, user_id, organization_id, tenant_id, token_hash, stage, method, mfa, ip,
                                  created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $11, $4, $5, $6, $7, $8, $9, $9, $10)`,
      [
        id,
        user.id,
        user.organizationId,
        hashSecret(secret),
        options.stage,
        options.method,
        options.mfa,
        options.ip,
        now,
        expiresAt,
        user.tenantId,
      ],
    );
    const prefix = options.stage === 'full' ? SESSION_PREFIX : MFA_SESSION_PREFIX;
    return { id, token: `${prefix}${id}_${secret}`, stage: options.stage, expiresAt };
  }

  /** The `mfs_` resolver: a live full session of an enabled user, touched to keep it from idling out. */
  async resolve(token: string): Promise<Principal | null> {
    const session = await this.find(token, SESSION_PREFIX);
    if (!session || session.stage !== 'full') return null;
    return this.tenantDb.run({ organizationId: session.organizationId, tenantIds: [] }, async (tx) => {
      const user = await UserRepository.byId(tx.db, session.organizationId, session.userId);
      if (!user || user.disabledAt) return null;
      const now = this.clock.now();
      if (now.getTime() - session.lastSeenAt.getTime() >= this.touchEveryMs) {
        await tx.db.query(`UPDATE user_sessions SET last_seen_at = $2 WHERE id = $1`, [session.id, now]);
      }
      return sessionPrincipal(user, session.id);
    });
  }

  /** A live MFA-limited session of one of the given stages, by its `mfm_` token. */
  async findPending(token: string, stages: SessionStage[]): Promise<SessionRecord | null> {
    const session = await this.find(token, MFA_SESSION_PREFIX);
    return session && stages.includes(session.stage) ? session : null;
  }

  /** A live session (not revoked, not expired, not idle) by token, with the secret checked. */
  private async find(token: string, prefix: string): Promise<SessionRecord | null> {
    const match = TOKEN.exec(token);
    if (!match || `${match[1]}_` !== prefix) return null;
    const [, , id, secret] = match as unknown as [string, string, string, string];
    const session = await withCredential(this.tenantDb, id, (db) => this.byId(db, id));
    if (!session || !secretMatches(secret, session.tokenHash)) return null;
    return this.isLive(session) ? session : null;
  }

  isLive(session: SessionRecord): boolean {
    const now = this.clock.now().getTime();
    return (
      session.revokedAt === null &&
      session.expiresAt.getTime() > now &&
      now - session.lastSeenAt.getTime() < this.idleMs
    );
  }

  async byId(db: EntityManager, id: string): Promise<SessionRecord | null> {
    const rows = (await db.query(`SELECT ${COLUMNS} FROM user_sessions WHERE id = $1`, [
      id,
    ])) as SessionRecord[];
    return rows[0] ?? null;
  }

  async revoke(db: EntityManager, id: string): Promise<void> {
    await db.query(`UPDATE user_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, [
      id,
      this.clock.now(),
    ]);
  }

  /** Ends every session of a user (disable, password reset, MFA reset), optionally but one. */
  async revokeAllOf(db: EntityManager, userId: string, except: string | null = null): Promise<number> {
    const result = (await db.query(
      `UPDATE user_sessions SET revoked_at = $2
        WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid)`,
      [userId, this.clock.now(), except],
    )) as [unknown[], number];
    return result[1];
  }
}
