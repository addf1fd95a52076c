/** "Who am I": the caller's principal as the API sees it, with the user and credential behind it. */
import { Injectable } from '@nestjs/common';
import type { Permission, Role } from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import { TenantDb } from '../../database/tenant-db.js';
import { IdentityClock } from './identity-clock.js';
import { isUserPrincipal } from './identity-principal.js';
import { SessionService } from './session.service.js';
import { UserRepository } from './user.repository.js';
import { toUserView, type UserView } from './user.view.js';

export interface AccountView {
  kind: Principal['kind'];
  organizationId: string;
  role: Role;
  permissions: Permission[];
  scope: { organizationWide: boolean; tenantIds: string[] };
  user: UserView | null;
  credential:
    | { type: 'api_key'; id: string }
    | { type: 'session'; id: string; method: string; mfa: boolean; expiresAt: Date }
    | { type: 'personal_token'; id: string };
}

@Injectable()
export class AccountService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly sessions: SessionService,
    private readonly clock: IdentityClock,
  ) {}

  async describe(auth: Principal): Promise<AccountView> {
    const base = {
      kind: auth.kind,
      organizationId: auth.organizationId,
      role: auth.role,
      permissions: [...auth.permissions].sort(),
      scope: { organizationWide: auth.scope.organizationId !== null, tenantIds: [...auth.scope.tenantIds] },
    };
    if (!isUserPrincipal(auth)) return { ...base, user: null, credential: { type: 'api_key', id: auth.id } };
    return this.tenantDb.run({ organizationId: auth.organizationId, tenantIds: [] }, async (tx) => {
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId);
      const view = user ? toUserView(user, this.clock.now()) : null;
      if (auth.kind === 'personal_token') {
        return { ...base, user: view, credential: { type: 'personal_token', id: auth.credentialId } };
      }
      const session = await this.sessions.byId(tx.db, auth.credentialId);
      return {
        ...base,
        user: view,
        credential: {
          type: 'session',
          id: auth.credentialId,
          method: session?.method ?? 'password',
          mfa: session?.mfa ?? false,
          expiresAt: session?.expiresAt ?? this.clock.now(),
        },
      };
    });
  }
}
