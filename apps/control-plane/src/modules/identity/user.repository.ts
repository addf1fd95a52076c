/** The only SQL on `users`. Every method takes an open scoped transaction; row-level security checks again. */
import type { EntityManager } from 'typeorm';
import type { Role } from '../../common/auth/permissions.js';
import type { TenantTx } from '../../database/tenant-db.js';

export interface UserRecord {
  id: string;
  organizationId: string;
  /** Set for practice staff (their one tenant); null for MSP staff. */
  tenantId: string | null;
  email: string;
  displayName: string;
  role: Role;
  /** A technician limited to these tenants; null means every tenant of the organization. */
  limitedTenantIds: string[] | null;
  passwordHash: string | null;
  passwordChangedAt: Date | null;
  totpSecret: string | null;
  totpPendingSecret: string | null;
  totpEnrolledAt: Date | null;
  totpLastStep: number | null;
  failedAttempts: number;
  lockedUntil: Date | null;
  disabledAt: Date | null;
  lastSignInAt: Date | null;
  oidcIssuer: string | null;
  oidcSubject: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `
  id, organization_id AS "organizationId", tenant_id AS "tenantId", email, display_name AS "displayName", role,
  limited_tenant_ids AS "limitedTenantIds", password_hash AS "passwordHash",
  password_changed_at AS "passwordChangedAt", totp_secret AS "totpSecret",
  totp_pending_secret AS "totpPendingSecret", totp_enrolled_at AS "totpEnrolledAt",
  totp_last_step AS "totpLastStep", failed_attempts AS "failedAttempts", locked_until AS "lockedUntil",
  disabled_at AS "disabledAt", last_sign_in_at AS "lastSignInAt", oidc_issuer AS "oidcIssuer",
  oidc_subject AS "oidcSubject", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Columns the application may change (the app role's UPDATE grant), by property name. */
const UPDATABLE = {
  displayName: 'display_name',
  role: 'role',
  limitedTenantIds: 'limited_tenant_ids',
  passwordHash: 'password_hash',
  passwordChangedAt: 'password_changed_at',
  totpSecret: 'totp_secret',
  totpPendingSecret: 'totp_pending_secret',
  totpEnrolledAt: 'totp_enrolled_at',
  totpLastStep: 'totp_last_step',
  failedAttempts: 'failed_attempts',
  lockedUntil: 'locked_until',
  disabledAt: 'disabled_at',
  lastSignInAt: 'last_sign_in_at',
  oidcIssuer: 'oidc_issuer',
  oidcSubject: 'oidc_subject',
  updatedAt: 'updated_at',
} as const satisfies Partial<Record<keyof UserRecord, string>>;

export type UserChanges = Partial<Pick<UserRecord, keyof typeof UPDATABLE>>;

export interface NewUser {
  id: string;
  organizationId: string;
  tenantId: string | null;
  email: string;
  displayName: string;
  role: Role;
  limitedTenantIds: string[] | null;
  passwordHash: string | null;
  passwordChangedAt: Date | null;
  oidcIssuer?: string | null;
  oidcSubject?: string | null;
}

export interface UserFilter {
  /** Whether the organization's own staff (no tenant) are visible: only to organization-wide principals. */
  includeStaff: boolean;
  tenantIds: readonly string[];
  role?: Role;
  tenantId?: string;
  after: string | null;
  limit: number;
}

function mapRow(row: Record<string, unknown>): UserRecord {
  const record = row as unknown as UserRecord;
  return { ...record, totpLastStep: row.totpLastStep === null ? null : Number(row.totpLastStep) };
}

export const UserRepository = {
  async insert(tx: TenantTx, user: NewUser): Promise<UserRecord> {
    const rows = (await tx.db.query(
      `INSERT INTO users (id, organization_id, tenant_id, email, display_name, role, limited_tenant_ids,
                          password_hash, password_changed_at, oidc_issuer, oidc_subject)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
      [
        user.id,
        user.organizationId,
        user.tenantId,
        user.email,
        user.displayName,
        user.role,
        user.limitedTenantIds,
        user.passwordHash,
        user.passwordChangedAt,
        user.oidcIssuer ?? null,
        user.oidcSubject ?? null,
      ],
    )) as Record<string, unknown>[];
    return mapRow(rows[0] as Record<string, unknown>);
  },

  /** One user by id within the transaction's organization, optionally locked for a read-modify-write. */
  async byId(
    db: EntityManager,
    organizationId: string,
    id: string,
    forUpdate = false,
  ): Promise<UserRecord | null> {
    const rows = (await db.query(
      `SELECT ${COLUMNS} FROM users WHERE organization_id = $1 AND id = $2 ${forUpdate ? 'FOR UPDATE' : ''}`,
      [organizationId, id],
    )) as Record<string, unknown>[];
    return rows[0] ? mapRow(rows[0]) : null;
  },

  async byEmail(
    tx: TenantTx,
    organizationId: string,
    email: string,
    forUpdate = false,
  ): Promise<UserRecord | null> {
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS} FROM users WHERE organization_id = $1 AND email = $2 ${forUpdate ? 'FOR UPDATE' : ''}`,
      [organizationId, email],
    )) as Record<string, unknown>[];
    return rows[0] ? mapRow(rows[0]) : null;
  },

  async bySubject(
    tx: TenantTx,
    organizationId: string,
    issuer: string,
    subject: string,
  ): Promise<UserRecord | null> {
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS} FROM users
        WHERE organization_id = $1 AND oidc_issuer = $2 AND oidc_subject = $3 FOR UPDATE`,
      [organizationId, issuer, subject],
    )) as Record<string, unknown>[];
    return rows[0] ? mapRow(rows[0]) : null;
  },

  async list(tx: TenantTx, organizationId: string, filter: UserFilter): Promise<UserRecord[]> {
    const params: unknown[] = [organizationId, filter.includeStaff, filter.tenantIds, filter.limit + 1];
    let where = `organization_id = $1 AND (($2 AND tenant_id IS NULL) OR tenant_id = ANY ($3::uuid[]))`;
    if (filter.role) {
      params.push(filter.role);
      where += ` AND role = $${params.length}`;
    }
    if (filter.tenantId) {
      params.push(filter.tenantId);
      where += ` AND tenant_id = $${params.length}`;
    }
    if (filter.after) {
      params.push(filter.after);
      where += ` AND id > $${params.length}`;
    }
    const rows = (await tx.db.query(
      `SELECT ${COLUMNS} FROM users WHERE ${where} ORDER BY id LIMIT $4`,
      params,
    )) as Record<string, unknown>[];
    return rows.map(mapRow);
  },

  async update(db: EntityManager, id: string, changes: UserChanges): Promise<UserRecord> {
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined);
    const sets = entries.map(([key], index) => `${UPDATABLE[key as keyof typeof UPDATABLE]} = $${index + 2}`);
    const rows = (await db.query(`UPDATE users SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`, [
      id,
      ...entries.map(([, value]) => value),
    ])) as [Record<string, unknown>[], number];
    const row = rows[0]?.[0];
    if (!row) throw new Error(`user ${id} vanished during an update`);
    return mapRow(row);
  },
};
