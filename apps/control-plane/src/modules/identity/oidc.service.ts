/**
 * Sign-in with an organization's OpenID Provider: Authorization Code with PKCE (S256), state and nonce
 * kept server-side and used once, the ID token validated by openid-client (signature, issuer, audience,
 * expiry, nonce). The person is matched by (issuer, subject), or on first sign-in by email within the
 * allowed domains; MSP staff need MFA from the provider (`amr`) or their Medfleet TOTP.
 */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import * as oidc from 'openid-client';
import { hashSecret } from '../../common/secrets.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { systemActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { IdentityAuditAction } from './identity-audit.js';
import { withCredential } from './credential-lookup.js';
import { IdentityClock } from './identity-clock.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import { OidcConnectionService, type OidcConnection } from './oidc-connection.service.js';
import { organizationBySlug } from './organization-lookup.js';
import { SignInService, userActor, type SignInResult } from './sign-in.service.js';
import { UserRepository, type UserRecord } from './user.repository.js';
import { toUserView } from './user.view.js';

/** Provider metadata is re-read this often, so a key rotation or an endpoint move is picked up. */
const DISCOVERY_TTL_MS = 10 * 60_000;

interface LoginState {
  organizationId: string;
  codeVerifier: string;
  nonce: string;
  redirectUri: string;
}

type Denial =
  | 'no_email'
  | 'email_unverified'
  | 'domain_not_allowed'
  | 'not_provisioned'
  | 'identity_mismatch'
  | 'disabled'
  | 'locked';

type CallbackOutcome = { result: SignInResult } | { denied: Denial } | { failed: string };

@Injectable()
export class OidcService {
  private readonly logger = new Logger(OidcService.name);
  private readonly discovered = new Map<string, { at: number; configuration: Promise<oidc.Configuration> }>();
  private readonly loginTimeoutMs: number;
  private readonly allowHttp: boolean;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly connections: OidcConnectionService,
    private readonly signIn: SignInService,
    private readonly clock: IdentityClock,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.loginTimeoutMs = config.OIDC_LOGIN_TIMEOUT_SEC * 1000;
    this.allowHttp = config.OIDC_ALLOW_HTTP_ISSUERS;
  }

  /** Starts a sign-in: answers the provider's authorization URL to redirect the browser to. */
  async start(organizationSlug: string): Promise<string> {
    const organization = await organizationBySlug(this.tenantDb, organizationSlug);
    const connection = organization
      ? await this.tenantDb.run({ organizationId: organization.id, tenantIds: [] }, (tx) =>
          this.connections.find(tx, organization.id),
        )
      : null;
    if (!connection?.enabled) {
      throw new IdentityException(
        IdentityErrorCode.SSO_NOT_CONFIGURED,
        HttpStatus.NOT_FOUND,
        'Single sign-on is not available for this organization',
      );
    }
    const configuration = await this.discover(connection);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const now = this.clock.now();
    await this.tenantDb.run({ organizationId: connection.organizationId, tenantIds: [] }, async ({ db }) => {
      await db.query(`DELETE FROM oidc_login_states WHERE organization_id = $1 AND expires_at < $2`, [
        connection.organizationId,
        now,
      ]);
      await db.query(
        `INSERT INTO oidc_login_states (state_hash, organization_id, code_verifier, nonce, redirect_uri, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          hashSecret(state),
          connection.organizationId,
          codeVerifier,
          nonce,
          this.connections.redirectUri,
          now,
          new Date(now.getTime() + this.loginTimeoutMs),
        ],
      );
    });
    return oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.connections.redirectUri,
      scope: 'openid email profile',
      response_type: 'code',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    }).href;
  }

  /** The provider's redirect back: validates it, maps the person to a user and signs them in. */
  async callback(query: Record<string, unknown>, rawQuery: string, ip: string | null): Promise<SignInResult> {
    const state = typeof query.state === 'string' && query.state.length <= 512 ? query.state : null;
    const login = state ? await this.consume(state) : null;
    if (!state || !login) {
      throw new IdentityException(
        IdentityErrorCode.SSO_STATE_INVALID,
        HttpStatus.BAD_REQUEST,
        'This sign-in link is unknown, expired or already used: start the sign-in again',
      );
    }
    const scope = { organizationId: login.organizationId, tenantIds: [] };
    const connection = await this.tenantDb.run(scope, (tx) =>
      this.connections.find(tx, login.organizationId),
    );
    let outcome: CallbackOutcome;
    if (!connection?.enabled) {
      outcome = { failed: 'sso_disabled' };
    } else if (typeof query.error === 'string') {
      outcome = { failed: `provider_error: ${query.error.slice(0, 100)}` };
    } else {
      outcome = await this.exchange(connection, login, state, rawQuery).then(
        (claims) => this.tenantDb.run(scope, (tx) => this.signInWith(tx, connection, claims, ip)),
        (error: unknown) => {
          this.logger.warn({ msg: 'OpenID Connect callback refused', error: String(error) });
          return {
            failed: `token_rejected: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown'}`,
          };
        },
      );
    }
    if ('result' in outcome) return outcome.result;
    if ('failed' in outcome) {
      await this.tenantDb.run(scope, (tx) =>
        this.audit.record(tx, {
          action: IdentityAuditAction.signInFailed,
          actor: { kind: 'anonymous', id: null, display: 'OpenID Connect' },
          organizationId: login.organizationId,
          details: { method: 'oidc', reason: outcome.failed },
        }),
      );
      throw new IdentityException(
        IdentityErrorCode.SSO_FAILED,
        HttpStatus.UNAUTHORIZED,
        'Single sign-on failed',
        {
          reason: outcome.failed.split(':')[0],
        },
      );
    }
    throw new IdentityException(
      IdentityErrorCode.SSO_DENIED,
      HttpStatus.FORBIDDEN,
      DENIAL_MESSAGES[outcome.denied],
      {
        reason: outcome.denied,
      },
    );
  }

  private async exchange(
    connection: OidcConnection,
    login: LoginState,
    state: string,
    rawQuery: string,
  ): Promise<oidc.IDToken> {
    const configuration = await this.discover(connection);
    const tokens = await oidc.authorizationCodeGrant(
      configuration,
      new URL(`${login.redirectUri}?${rawQuery}`),
      {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      },
      { redirect_uri: login.redirectUri },
    );
    const claims = tokens.claims();
    if (!claims) throw new Error('no ID token');
    return claims;
  }

  private async signInWith(
    tx: TenantTx,
    connection: OidcConnection,
    claims: oidc.IDToken,
    ip: string | null,
  ): Promise<CallbackOutcome> {
    const organizationId = connection.organizationId;
    const email = typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : null;
    const deny = async (denied: Denial, user: UserRecord | null = null): Promise<CallbackOutcome> => {
      await this.audit.record(tx, {
        action: IdentityAuditAction.signInFailed,
        actor: user ? userActor(user) : { kind: 'anonymous', id: null, display: email ?? claims.sub },
        organizationId,
        tenantId: user?.tenantId ?? null,
        target: user ? { type: 'user', id: user.id } : null,
        details: { method: 'oidc', reason: denied, issuer: claims.iss, subject: claims.sub, email },
      });
      return { denied };
    };
    if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) return deny('no_email');
    if (claims.email_verified === false) return deny('email_unverified');
    if (!connection.allowedEmailDomains.includes(email.slice(email.indexOf('@') + 1)))
      return deny('domain_not_allowed');

    let user = await UserRepository.bySubject(tx, organizationId, claims.iss, claims.sub);
    if (!user) {
      const byEmail = await UserRepository.byEmail(tx, organizationId, email, true);
      if (byEmail?.oidcSubject) return deny('identity_mismatch', byEmail);
      if (byEmail) {
        user = await UserRepository.update(tx.db, byEmail.id, {
          oidcIssuer: claims.iss,
          oidcSubject: claims.sub,
          updatedAt: this.clock.now(),
        });
      } else if (connection.newUserRole) {
        user = await this.provision(tx, connection, claims, email);
      } else {
        return deny('not_provisioned');
      }
    }
    const refusal = this.signIn.refusalOf(user);
    if (refusal) return deny(refusal, user);
    const amr = Array.isArray(claims.amr)
      ? claims.amr.filter((value): value is string => typeof value === 'string')
      : [];
    const providerMfa = amr.some((value) => connection.mfaAmrValues.includes(value));
    const result = await this.signIn.afterFirstFactor(tx, user, { method: 'oidc', providerMfa, ip });
    return result ? { result } : { failed: 'mfa' };
  }

  /** Just-in-time provisioning, when the connection names a role for newcomers. */
  private async provision(
    tx: TenantTx,
    connection: OidcConnection,
    claims: oidc.IDToken,
    email: string,
  ): Promise<UserRecord> {
    const name =
      typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 200) : email;
    const user = await UserRepository.insert(tx, {
      id: randomUUID(),
      organizationId: connection.organizationId,
      tenantId: connection.newUserTenantId,
      email,
      displayName: name,
      role: connection.newUserRole as NonNullable<OidcConnection['newUserRole']>,
      limitedTenantIds: null,
      passwordHash: null,
      passwordChangedAt: null,
      oidcIssuer: claims.iss,
      oidcSubject: claims.sub,
    });
    await this.audit.record(tx, {
      action: IdentityAuditAction.userCreate,
      actor: systemActor('OpenID Connect just-in-time provisioning'),
      organizationId: connection.organizationId,
      tenantId: user.tenantId,
      target: { type: 'user', id: user.id },
      after: toUserView(user, this.clock.now()),
    });
    return user;
  }

  /** Takes a login state once: a second use, an expired or an unknown state finds nothing. */
  private async consume(state: string): Promise<LoginState | null> {
    const stateHash = hashSecret(state);
    return withCredential(this.tenantDb, stateHash.toString('hex'), async (db) => {
      const now = this.clock.now();
      const rows = (await db.query(
        `UPDATE oidc_login_states SET consumed_at = $2
          WHERE state_hash = $1 AND consumed_at IS NULL AND expires_at > $2
          RETURNING organization_id AS "organizationId", code_verifier AS "codeVerifier", nonce,
                    redirect_uri AS "redirectUri"`,
        [stateHash, now],
      )) as [LoginState[], number];
      return rows[0][0] ?? null;
    });
  }

  private discover(connection: OidcConnection): Promise<oidc.Configuration> {
    const key = `${connection.issuer}\n${connection.clientId}\n${hashSecret(connection.clientSecret).toString('hex')}`;
    const cached = this.discovered.get(key);
    if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.configuration;
    const configuration = oidc
      .discovery(new URL(connection.issuer), connection.clientId, connection.clientSecret, undefined, {
        timeout: 10,
        ...(this.allowHttp ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((error: unknown) => {
        this.discovered.delete(key);
        this.logger.warn({
          msg: 'OpenID Provider discovery failed',
          issuer: connection.issuer,
          error: String(error),
        });
        throw new IdentityException(
          IdentityErrorCode.SSO_PROVIDER_UNAVAILABLE,
          HttpStatus.BAD_GATEWAY,
          "The organization's identity provider cannot be reached",
        );
      });
    this.discovered.set(key, { at: Date.now(), configuration });
    return configuration;
  }
}

const DENIAL_MESSAGES: Record<Denial, string> = {
  no_email: 'The identity provider did not give an email address',
  email_unverified: 'The identity provider says this email address is not verified',
  domain_not_allowed: 'This email domain may not sign in to this organization',
  not_provisioned: 'No Medfleet user exists for this person; ask an administrator to create one',
  identity_mismatch: 'This email belongs to a user linked to another identity',
  disabled: 'This user is disabled',
  locked: 'This user is temporarily locked after repeated failures',
};
