/**
 * The permission matrix: every action a route can perform, and which role may perform it. This file is
 * the one source; the guard enforces it per route, the tests walk it, the README renders it.
 */
export const PERMISSIONS = [
  /** One's own account: profile, password, MFA, sign-out, personal tokens. Every role has it. */
  'account:self',
  'organization:read',
  'tenant:read',
  'tenant:write',
  'site:read',
  'site:write',
  'enrollment:read',
  'enrollment:write',
  'agent:read',
  /** Revoke an agent (and later: configure). */
  'agent:write',
  /** Approve or reject an agent waiting for approval after enrolling: an MSP decision. */
  'agent:approve',
  'device:read',
  /** A site's maintenance policy and the site's own blackouts (a practice may close its own nights). */
  'maintenance:write',
  /** Organization- and county-wide freezes (a holiday, a hurricane): an MSP administrator's call. */
  'blackout:write',
  'campaign:read',
  /** Create and edit patch campaigns, start, pause, resume and cancel them: MSP work. */
  'campaign:write',
  /**
   * Approve a campaign for a tenant: the practice's administrator, or the MSP for a practice that has
   * delegated its approval (the service checks which tenants a principal may approve for).
   */
  'campaign:approve',
  /**
   * Report the outcome of a manual procedure (a technician's checklist) for a job waiting on it: the MSP's
   * technicians and administrators, who do most of this work on site, and the practice's administrator, whose own
   * biomedical staff or the vendor's engineer may have done it. Never the read-only roles (practice_viewer,
   * auditor): a confirmation ends the job and counts toward the campaign's gates.
   */
  'job:confirm',
  'ingest:read',
  'user:read',
  'user:write',
  'audit:read',
  'audit:export',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['msp_admin', 'msp_technician', 'practice_admin', 'practice_viewer', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** MSP roles act across the organization's tenants (a technician may be limited to some); practice roles within one. */
export const ORGANIZATION_ROLES: readonly Role[] = ['msp_admin', 'msp_technician', 'auditor'];

const READ_INVENTORY: Permission[] = [
  'account:self',
  'tenant:read',
  'site:read',
  'agent:read',
  'device:read',
];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  msp_admin: PERMISSIONS,
  msp_technician: [
    'organization:read',
    ...READ_INVENTORY,
    'site:write',
    'enrollment:read',
    'enrollment:write',
    'agent:write',
    'agent:approve',
    'maintenance:write',
    'campaign:read',
    'campaign:write',
    'job:confirm',
    'ingest:read',
  ],
  practice_admin: [
    ...READ_INVENTORY,
    'site:write',
    'enrollment:read',
    'enrollment:write',
    'agent:write',
    'maintenance:write',
    'campaign:read',
    'campaign:approve',
    'job:confirm',
    'ingest:read',
    'user:read',
    'user:write',
    'audit:read',
  ],
  practice_viewer: [...READ_INVENTORY, 'campaign:read'],
  auditor: [
    'organization:read',
    ...READ_INVENTORY,
    'enrollment:read',
    'campaign:read',
    'ingest:read',
    'user:read',
    'audit:read',
    'audit:export',
  ],
};

export function permissionsOf(role: Role): ReadonlySet<Permission> {
  return new Set(ROLE_PERMISSIONS[role]);
}
