/** The Principal of a person: from a session (kind `user`) or a personal token (kind `personal_token`). */
import {
  ORGANIZATION_ROLES,
  permissionsOf,
  type Permission,
  type Role,
} from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import type { TenantScope } from '../../database/tenant-db.js';
import type { UserRecord } from './user.repository.js';

/** A principal that came from a sign-in: it also names the session or personal token it came through. */
export interface UserPrincipal extends Principal {
  readonly kind: 'user' | 'personal_token';
  readonly userId: string;
  /** The session id (kind `user`) or personal token id (kind `personal_token`). */
  readonly credentialId: string;
}

export function isUserPrincipal(principal: Principal): principal is UserPrincipal {
  return (
    (principal.kind === 'user' || principal.kind === 'personal_token') &&
    typeof (principal as Partial<UserPrincipal>).credentialId === 'string'
  );
}

export function isOrganizationRole(role: Role): boolean {
  return ORGANIZATION_ROLES.includes(role);
}

/**
 * What a user may reach: MSP roles the whole organization (a limited technician only the listed tenants),
 * practice roles their one tenant.
 */
export function scopeOfUser(
  user: Pick<UserRecord, 'organizationId' | 'tenantId' | 'limitedTenantIds'>,
): TenantScope {
  if (user.tenantId) return { organizationId: null, tenantIds: [user.tenantId] };
  if (user.limitedTenantIds) return { organizationId: null, tenantIds: [...user.limitedTenantIds] };
  return { organizationId: user.organizationId, tenantIds: [] };
}

export function sessionPrincipal(user: UserRecord, sessionId: string): UserPrincipal {
  return {
    kind: 'user',
    id: user.id,
    organizationId: user.organizationId,
    role: user.role,
    permissions: permissionsOf(user.role),
    userId: user.id,
    credentialId: sessionId,
    scope: scopeOfUser(user),
  };
}

/**
 * A token's permissions are its own list cut down to the user's current role, so a demotion narrows it.
 * Every token may see its own account (`account:self`); what changes an account still needs a session.
 */
export function tokenPrincipal(user: UserRecord, tokenId: string, granted: readonly string[]): UserPrincipal {
  const role = permissionsOf(user.role);
  return {
    kind: 'personal_token',
    id: tokenId,
    organizationId: user.organizationId,
    role: user.role,
    permissions: new Set(
      [...role].filter(
        (permission: Permission) => permission === 'account:self' || granted.includes(permission),
      ),
    ),
    userId: user.id,
    credentialId: tokenId,
    scope: scopeOfUser(user),
  };
}
