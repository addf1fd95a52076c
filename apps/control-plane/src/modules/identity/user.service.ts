/**
 * User management: MSP administrators manage everyone in their organization; practice administrators
 * manage their own practice's staff and can never grant an MSP role. Nobody grants a role beyond their
 * own reach, or changes their own role or state.
 */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import { ROLES, type Role } from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import { AppException, ErrorCode } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { operatorActor, principalActor, type AuditAction, type AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { IdentityAuditAction } from './identity-audit.js';
import { IdentityClock } from './identity-clock.js';
import { isOrganizationRole, isUserPrincipal } from './identity-principal.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import { organizationBySlug } from './organization-lookup.js';
import { PasswordHasher } from './password-hasher.service.js';
import { passwordProblems } from './password-policy.util.js';
import { SessionService } from './session.service.js';
import type { CreateUserDto, UpdateUserDto, UserListQuery } from './user.dto.js';
import { UserRepository, type UserChanges, type UserRecord } from './user.repository.js';
import { toUserView, type UserView } from './user.view.js';

/** The roles each role may grant (and so manage): never one beyond its own reach. */
export const GRANTABLE_ROLES: Record<Role, readonly Role[]> = {
  msp_admin: ROLES,
  practice_admin: ['practice_admin', 'practice_viewer'],
  msp_technician: [],
  practice_viewer: [],
  auditor: [],
};

const invalid = (message: string, details: Record<string, unknown> = {}) =>
  new AppException(ErrorCode.VALIDATION_FAILED, HttpStatus.BAD_REQUEST, message, details);

@Injectable()
export class UserService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly clock: IdentityClock,
    private readonly audit: AuditService,
  ) {}

  async create(auth: Principal, dto: CreateUserDto): Promise<UserView> {
    this.assertGrantable(auth, dto.role);
    const ownTenant =
      auth.scope.organizationId === null && auth.scope.tenantIds.length === 1
        ? auth.scope.tenantIds[0]
        : undefined;
    const tenantId = isOrganizationRole(dto.role)
      ? undefined
      : (dto.tenantId ?? (auth.role === 'practice_admin' ? ownTenant : undefined));
    const passwordHash = await this.newPasswordHash(dto.password, dto, auth.organizationId);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const user = await this.insert(
        tx,
        auth.organizationId,
        dto,
        tenantId,
        passwordHash,
        principalActor(auth),
      );
      return toUserView(user, this.clock.now());
    });
  }

  /** The first MSP administrator of an organization, from the command line (an operator's act). */
  async createByOperator(organizationSlug: string, dto: CreateUserDto): Promise<UserView> {
    const organization = await organizationBySlug(this.tenantDb, organizationSlug);
    if (!organization) throw AppException.notFound('organization', organizationSlug);
    const passwordHash = await this.newPasswordHash(dto.password, dto, organization.id, organization.slug);
    return this.tenantDb.run({ organizationId: organization.id, tenantIds: [] }, async (tx) => {
      const user = await this.insert(
        tx,
        organization.id,
        dto,
        dto.tenantId,
        passwordHash,
        operatorActor('create-user'),
      );
      return toUserView(user, this.clock.now());
    });
  }

  async list(auth: Principal, query: UserListQuery): Promise<Page<UserView>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = await UserRepository.list(tx, auth.organizationId, {
        includeStaff: tx.organizationId !== null,
        tenantIds: tx.tenantIds,
        role: query.role,
        tenantId: query.tenantId,
        after,
        limit,
      });
      await this.audit.recordAccess(tx, auth, 'user.read', query.tenantId, { ...query, cursor: undefined });
      const now = this.clock.now();
      return toPage(
        rows.map((row) => toUserView(row, now)),
        limit,
      );
    });
  }

  get(auth: Principal, id: string): Promise<UserView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const user = await this.require(tx, auth, id);
      await this.audit.recordAccess(tx, auth, 'user.read', user.tenantId, {}, { type: 'user', id });
      return toUserView(user, this.clock.now());
    });
  }

  async update(auth: Principal, id: string, dto: UpdateUserDto): Promise<UserView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const target = await this.require(tx, auth, id, true);
      this.assertManageable(auth, target);
      const changes: UserChanges = {};
      const role = dto.role ?? target.role;
      if (dto.role !== undefined && dto.role !== target.role) {
        if (target.id === auth.userId) throw this.cannotChangeSelf('change your own role');
        this.assertGrantable(auth, dto.role);
        if (isOrganizationRole(dto.role) !== isOrganizationRole(target.role)) {
          throw new IdentityException(
            IdentityErrorCode.ROLE_CHANGE_INVALID,
            HttpStatus.BAD_REQUEST,
            'A role can change only within its kind: MSP roles among themselves, practice roles among themselves',
            { from: target.role, to: dto.role },
          );
        }
        changes.role = dto.role;
        if (role !== 'msp_technician') changes.limitedTenantIds = null;
      }
      if (dto.limitedTenantIds !== undefined) {
        if (dto.limitedTenantIds !== null && role !== 'msp_technician') {
          throw invalid('limitedTenantIds applies to the msp_technician role only');
        }
        if (dto.limitedTenantIds) this.assertTenants(tx, dto.limitedTenantIds);
        changes.limitedTenantIds = dto.limitedTenantIds;
      }
      if (dto.displayName !== undefined) changes.displayName = dto.displayName;
      const now = this.clock.now();
      if (dto.password !== undefined) {
        changes.passwordHash = await this.newPasswordHash(dto.password, target, target.organizationId);
        changes.passwordChangedAt = now;
        changes.failedAttempts = 0;
        changes.lockedUntil = null;
        await this.sessions.revokeAllOf(
          tx.db,
          target.id,
          target.id === auth.userId ? this.sessionOf(auth) : null,
        );
      }
      const updated = await UserRepository.update(tx.db, target.id, { ...changes, updatedAt: now });
      const before = toUserView(target, now);
      const after = toUserView(updated, now);
      await this.record(tx, auth, IdentityAuditAction.userUpdate, updated, before, after, {
        passwordReset: dto.password !== undefined,
      });
      return after;
    });
  }

  /** Disables a user: their sessions end and their personal tokens stop working, at once. */
  disable(auth: Principal, id: string): Promise<UserView> {
    return this.changeState(auth, id, IdentityAuditAction.userDisable, async (tx, target, now) => {
      if (target.id === auth.userId) throw this.cannotChangeSelf('disable yourself');
      const ended = await this.sessions.revokeAllOf(tx.db, target.id);
      return { changes: { disabledAt: target.disabledAt ?? now }, details: { sessionsEnded: ended } };
    });
  }

  enable(auth: Principal, id: string): Promise<UserView> {
    return this.changeState(auth, id, IdentityAuditAction.userEnable, async () => ({
      changes: { disabledAt: null, failedAttempts: 0, lockedUntil: null },
      details: {},
    }));
  }

  /** Clears the user's TOTP (a lost phone): MSP staff must enroll again at their next sign-in. */
  resetMfa(auth: Principal, id: string): Promise<UserView> {
    return this.changeState(auth, id, IdentityAuditAction.userMfaReset, async (tx, target) => {
      const ended = await this.sessions.revokeAllOf(
        tx.db,
        target.id,
        target.id === auth.userId ? this.sessionOf(auth) : null,
      );
      return {
        changes: { totpSecret: null, totpPendingSecret: null, totpEnrolledAt: null, totpLastStep: null },
        details: { sessionsEnded: ended },
      };
    });
  }

  private changeState(
    auth: Principal,
    id: string,
    action: AuditAction,
    decide: (
      tx: TenantTx,
      target: UserRecord,
      now: Date,
    ) => Promise<{ changes: UserChanges; details: Record<string, unknown> }>,
  ): Promise<UserView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const target = await this.require(tx, auth, id, true);
      this.assertManageable(auth, target);
      const now = this.clock.now();
      const { changes, details } = await decide(tx, target, now);
      const updated = await UserRepository.update(tx.db, target.id, { ...changes, updatedAt: now });
      const before = toUserView(target, now);
      const after = toUserView(updated, now);
      await this.record(tx, auth, action, updated, before, after, details);
      return after;
    });
  }

  private async insert(
    tx: TenantTx,
    organizationId: string,
    dto: CreateUserDto,
    tenantId: string | undefined,
    passwordHash: string | null,
    actor: AuditActor,
  ): Promise<UserRecord> {
    if (isOrganizationRole(dto.role)) {
      if (dto.tenantId)
        throw invalid(`${dto.role} is an MSP role: it belongs to the organization, not a tenant`);
    } else if (!tenantId) {
      throw invalid(`${dto.role} is a practice role: tenantId is required`);
    } else {
      this.assertTenants(tx, [tenantId]);
    }
    if (dto.limitedTenantIds) {
      if (dto.role !== 'msp_technician')
        throw invalid('limitedTenantIds applies to the msp_technician role only');
      this.assertTenants(tx, dto.limitedTenantIds);
    }
    if (await UserRepository.byEmail(tx, organizationId, dto.email)) {
      throw AppException.conflict(`A user with the email ${dto.email} already exists`, { email: dto.email });
    }
    const now = this.clock.now();
    const user = await UserRepository.insert(tx, {
      id: randomUUID(),
      organizationId,
      tenantId: tenantId ?? null,
      email: dto.email,
      displayName: dto.displayName,
      role: dto.role,
      limitedTenantIds: dto.limitedTenantIds ?? null,
      passwordHash,
      passwordChangedAt: passwordHash ? now : null,
    });
    await this.audit.record(tx, {
      action: IdentityAuditAction.userCreate,
      actor,
      tenantId: user.tenantId,
      organizationId,
      target: { type: 'user', id: user.id },
      after: toUserView(user, now),
    });
    return user;
  }

  private async record(
    tx: TenantTx,
    auth: Principal,
    action: AuditAction,
    user: UserRecord,
    before: UserView,
    after: UserView,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record(tx, {
      action,
      actor: principalActor(auth),
      tenantId: user.tenantId,
      organizationId: user.organizationId,
      target: { type: 'user', id: user.id },
      before,
      after,
      details,
    });
  }

  /** A user the principal may see: staff to organization-wide principals, practice staff within scope. */
  private async require(tx: TenantTx, auth: Principal, id: string, forUpdate = false): Promise<UserRecord> {
    const user = await UserRepository.byId(tx.db, auth.organizationId, id, forUpdate);
    const visible =
      user !== null &&
      (user.tenantId === null ? tx.organizationId !== null : tx.tenantIds.includes(user.tenantId));
    if (!user || !visible) throw AppException.notFound('user', id);
    return user;
  }

  private assertGrantable(auth: Principal, role: Role): void {
    if (!GRANTABLE_ROLES[auth.role].includes(role)) {
      throw new IdentityException(
        IdentityErrorCode.ROLE_NOT_GRANTABLE,
        HttpStatus.FORBIDDEN,
        `A ${auth.role} cannot grant the ${role} role`,
        { role, grantable: GRANTABLE_ROLES[auth.role] },
      );
    }
  }

  private assertManageable(auth: Principal, target: UserRecord): void {
    if (!GRANTABLE_ROLES[auth.role].includes(target.role)) {
      throw new IdentityException(
        IdentityErrorCode.ROLE_NOT_GRANTABLE,
        HttpStatus.FORBIDDEN,
        `A ${auth.role} cannot manage a ${target.role}`,
        { role: target.role },
      );
    }
  }

  /** Tenants named in a request must be within the transaction's reach (404 otherwise, as everywhere). */
  private assertTenants(tx: TenantTx, tenantIds: readonly string[]): void {
    const missing = tenantIds.find((tenantId) => !tx.tenantIds.includes(tenantId));
    if (missing) throw AppException.notFound('tenant', missing);
  }

  private async newPasswordHash(
    password: string | undefined,
    owner: { email: string; displayName: string },
    organizationId: string,
    organizationSlug?: string,
  ): Promise<string | null> {
    if (password === undefined) return null;
    const slug = organizationSlug ?? (await this.slugOf(organizationId));
    const problems = passwordProblems(password, {
      email: owner.email,
      displayName: owner.displayName,
      organizationSlug: slug,
    });
    if (problems.length > 0) throw IdentityException.passwordPolicy(problems);
    return this.hasher.hash(password);
  }

  private async slugOf(organizationId: string): Promise<string | undefined> {
    const rows = await this.tenantDb.run(
      { organizationId, tenantIds: [] },
      (tx) =>
        tx.db.query(`SELECT slug FROM organizations WHERE id = $1`, [organizationId]) as Promise<
          { slug: string }[]
        >,
    );
    return rows[0]?.slug;
  }

  private sessionOf(auth: Principal): string | null {
    return isUserPrincipal(auth) && auth.kind === 'user' ? auth.credentialId : null;
  }

  private cannotChangeSelf(what: string): IdentityException {
    return new IdentityException(
      IdentityErrorCode.CANNOT_CHANGE_SELF,
      HttpStatus.FORBIDDEN,
      `You cannot ${what}`,
    );
  }
}
