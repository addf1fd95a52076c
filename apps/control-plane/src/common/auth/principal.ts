/** Who is calling, and which tenants they may reach. Users and roles (issue 3) slot in beside API keys. */
import type { TenantScope } from '../../database/tenant-db.js';

export type PrincipalKind = 'api_key' | 'user';

/** Until users and roles arrive, an organization API key acts as the organization's administrator. */
export type Role = 'org_admin';

export interface Principal {
  readonly kind: PrincipalKind;
  /** The API key's id (or, later, the user's id), for audit. */
  readonly id: string;
  readonly organizationId: string;
  readonly roles: readonly Role[];
  /** The tenants this principal may reach; every query of the request runs inside it. */
  readonly scope: TenantScope;
}

export function organizationScope(organizationId: string): TenantScope {
  return { organizationId, tenantIds: [] };
}
