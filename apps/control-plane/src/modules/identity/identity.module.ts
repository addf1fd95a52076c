/**
 * Identity: users, password + TOTP sign-in, OpenID Connect sign-in, sessions (`mfs_`) and personal API
 * tokens (`mfp_`), each registered as a credential resolver with AuthenticationService.
 */
import { Module, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { AccountService } from './account.service.js';
import { IdentityClock } from './identity-clock.js';
import { LocalLoginController } from './local-login.controller.js';
import { OidcConnectionController } from './oidc-connection.controller.js';
import { OidcConnectionService } from './oidc-connection.service.js';
import { OidcController } from './oidc.controller.js';
import { OidcService } from './oidc.service.js';
import { PasswordHasher } from './password-hasher.service.js';
import { PersonalTokenController } from './personal-token.controller.js';
import { PersonalTokenService } from './personal-token.service.js';
import { SecretBox } from './secret-box.js';
import { SessionService } from './session.service.js';
import { SignInService } from './sign-in.service.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { UserController } from './user.controller.js';
import { UserService } from './user.service.js';

@Module({
  controllers: [
    LocalLoginController,
    PersonalTokenController,
    UserController,
    OidcConnectionController,
    OidcController,
  ],
  providers: [
    IdentityClock,
    SecretBox,
    PasswordHasher,
    SessionService,
    PersonalTokenService,
    SignInThrottle,
    SignInService,
    AccountService,
    UserService,
    OidcConnectionService,
    OidcService,
  ],
  exports: [UserService, OidcConnectionService, SessionService, IdentityClock],
})
export class IdentityModule implements OnModuleInit {
  constructor(private readonly audit: AuditService) {}

  onModuleInit(): void {
    // Audit entries name users by their email at the time of the event.
    this.audit.registerActorDisplay('user', async (db, id) => {
      const rows = (await db.query(`SELECT email FROM users WHERE id = $1`, [id])) as { email: string }[];
      return rows[0]?.email ?? null;
    });
  }
}
