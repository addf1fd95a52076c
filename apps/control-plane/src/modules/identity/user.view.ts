/** How a user is shown by the API: never a hash or a secret. */
import type { Role } from '../../common/auth/permissions.js';
import type { UserRecord } from './user.repository.js';

export interface UserView {
  id: string;
  organizationId: string;
  tenantId: string | null;
  email: string;
  displayName: string;
  role: Role;
  /** A technician limited to these tenants; null means every tenant of the organization (or not applicable). */
  limitedTenantIds: string[] | null;
  passwordSet: boolean;
  mfaEnrolled: boolean;
  ssoLinked: boolean;
  state: 'active' | 'locked' | 'disabled';
  lockedUntil: Date | null;
  disabledAt: Date | null;
  lastSignInAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toUserView(user: UserRecord, now: Date): UserView {
  const locked = user.lockedUntil !== null && user.lockedUntil.getTime() > now.getTime();
  return {
    id: user.id,
    organizationId: user.organizationId,
    tenantId: user.tenantId,
    email: user.email,
    displayName: user.displayName,
    role: user.role,
    limitedTenantIds: user.limitedTenantIds,
    passwordSet: user.passwordHash !== null,
    mfaEnrolled: user.totpSecret !== null,
    ssoLinked: user.oidcSubject !== null,
    state: user.disabledAt ? 'disabled' : locked ? 'locked' : 'active',
    lockedUntil: locked ? user.lockedUntil : null,
    disabledAt: user.disabledAt,
    lastSignInAt: user.lastSignInAt,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}
