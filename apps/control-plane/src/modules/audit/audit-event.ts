/** What callers hand to AuditService.record: who did what to which object, with before and after. */
import os from 'node:os';
import type { Principal } from '../../common/auth/principal.js';
import type { AuditSource } from './audit-context.js';

/**
 * Who acted. `kind` is `api_key`, `user`, `agent`, `system` or `anonymous` (a failed sign-in of an unknown
 * account); `id` is null only for `system` and `anonymous`. `display` is a label at the time of the event
 * (resolved for API keys when omitted); `credential` names what a user acted through.
 */
export interface AuditActor {
  kind: string;
  id: string | null;
  display?: string | null;
  credential?: string | null;
}

/** `resource.verb`, lower case: `tenant.create`, `enrollment_token.revoke`, `auth.sign_in_failed`. */
export type AuditAction = `${string}.${string}`;

/** The actions the control plane records; other modules may add their own of the same form. */
export const AUDIT_ACTIONS = [
  'organization.create',
  'api_key.create',
  'tenant.create',
  'tenant.update',
  'site.create',
  'site.update',
  'enrollment_token.create',
  'enrollment_token.revoke',
  'agent.enroll',
  'agent.enroll_failed',
  'agent.revoke',
  'auth.sign_in',
  'auth.sign_in_failed',
  'auth.sign_out',
  'user.read',
  'audit.read',
  'audit.export',
  'audit.verify',
  'audit.checkpoint',
  'audit.purge',
] as const satisfies readonly AuditAction[];

export interface AuditEvent {
  action: AuditAction;
  actor: AuditActor;
  /** The tenant the event belongs to, whose chain records it; null or omitted for organization-level events. */
  tenantId?: string | null;
  /** The organization of an organization-level event; by default the transaction's organization. */
  organizationId?: string | null;
  target?: { type: string; id: string } | null;
  /** The object before and after the change (never secrets: known secret fields are redacted anyway). */
  before?: unknown;
  after?: unknown;
  /** Anything else an auditor needs: filters of a read, a refusal's reason, a purge's range. */
  details?: unknown;
  /** Overrides the request's source, which is otherwise taken from the current HTTP request. */
  source?: Partial<AuditSource>;
}

/** What was appended, for callers that want to reference it. */
export interface RecordedAuditEntry {
  id: string;
  chainKey: string;
  seq: number;
  occurredAt: Date;
  hash: string;
}

/** The accountable party behind a request: the user for sessions and personal tokens, else the key. */
export function principalActor(principal: Principal): AuditActor {
  if (principal.userId) {
    return {
      kind: 'user',
      id: principal.userId,
      credential: principal.id === principal.userId ? null : `${principal.kind}:${principal.id}`,
    };
  }
  return { kind: principal.kind, id: principal.id };
}

/** The control plane itself or an operator at its command line (named by OS user and host). */
export function systemActor(display: string): AuditActor {
  return { kind: 'system', id: null, display };
}

export function operatorActor(command: string): AuditActor {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return systemActor(`${command} (operator ${user}@${os.hostname()})`);
}

export function agentActor(agentId: string, hostname: string | null, credential?: string): AuditActor {
  return { kind: 'agent', id: agentId, display: hostname, credential: credential ?? null };
}
