/** Who is calling, and which tenants they may reach. Users and roles (issue 3) slot in beside API keys. */
import type { TenantScope } from '../../database/tenant-db.js';

import { permissionsOf, type Permission, type Role } from './permissions.js';

export type PrincipalKind = 'api_key' | 'user' | 'personal_token';

export interface Principal {
  readonly kind: PrincipalKind;
  /** The API key's id (or, later, the user's id), for audit. */
  readonly id: string;
  readonly organizationId: string;
  readonly role: Role;
  /** What this principal may do: its role's permissions (a personal token may narrow them). */
  readonly permissions: ReadonlySet<Permission>;
  /** The user behind a session or personal token; null for an organization API key. */
  readonly userId: string | null;
  /** The tenants this principal may reach; every query of the request runs inside it. */
  readonly scope: TenantScope;
}

export function organizationScope(organizationId: string): TenantScope {
  return { organizationId, tenantIds: [] };
}

/** An organization API key acts as the organization's administrator (automation, first start). */
export function apiKeyPrincipal(keyId: string, organizationId: string): Principal {
  return {
    kind: 'api_key',
    id: keyId,
    organizationId,
    role: 'msp_admin',
    permissions: permissionsOf('msp_admin'),
    userId: null,
    scope: organizationScope(organizationId),
  };
}
