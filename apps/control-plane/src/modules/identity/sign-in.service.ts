/**
 * Signing in with a password, the TOTP steps, signing out and changing one's password. Failures count
 * against the account (a temporary lockout after SIGN_IN_MAX_FAILED_ATTEMPTS) and are recorded in the
 * same transaction that counts them; every failure answers the same, so no answer tells whether an
 * account exists.
 */
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import type { AuditActor } from '../audit/audit-event.js';
import type { ChangePasswordDto, MfaCodeDto, MfaTokenDto, PasswordSignInDto } from './auth.dto.js';
import { AuditService } from '../audit/audit.service.js';
import { IdentityAuditAction } from './identity-audit.js';
import { IdentityClock } from './identity-clock.js';
import { isOrganizationRole, isUserPrincipal } from './identity-principal.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import { organizationBySlug } from './organization-lookup.js';
import { PasswordHasher } from './password-hasher.service.js';
import { passwordProblems } from './password-policy.util.js';
import { SecretBox } from './secret-box.js';
import { SessionService, type SessionStage, type SignInMethod } from './session.service.js';
import { DEFAULT_TOTP, base32Encode, newTotpSecret, otpauthUri, verifyTotp } from './totp.util.js';
import { UserRepository, type UserRecord } from './user.repository.js';
import { toUserView, type UserView } from './user.view.js';

export interface SignedIn {
  status: 'signed_in';
  session: { token: string; expiresAt: Date; idleTimeoutSeconds: number };
  user: UserView;
}

export interface MfaRequired {
  /** Enrollment: an MSP user without TOTP must enroll before anything else. Verification: enter the code. */
  status: 'mfa_enrollment_required' | 'mfa_verification_required';
  /** The MFA-limited session: good for the MFA steps only, for a few minutes. */
  mfaToken: string;
  expiresAt: Date;
}

export type SignInResult = SignedIn | MfaRequired;

export interface TotpEnrollment {
  /** The seed in base32, for typing into an authenticator app; shown only during enrollment. */
  secret: string;
  /** The same as an otpauth:// URI, for a QR code. */
  otpauthUri: string;
  algorithm: string;
  digits: number;
  period: number;
}

/** After the first factor, what the second factor stands at. */
export interface FirstFactor {
  method: SignInMethod;
  /** The identity provider reported a multi-factor authentication (OpenID Connect `amr`). */
  providerMfa: boolean;
  /** A TOTP code given with the first factor (password sign-in in one step). */
  totp?: string;
  ip: string | null;
}

type FailureReason =
  'unknown_account' | 'no_password' | 'disabled' | 'locked' | 'wrong_password' | 'wrong_code';

const orgScope = (organizationId: string) => ({ organizationId, tenantIds: [] });

export function userActor(
  user: Pick<UserRecord, 'id' | 'email'>,
  credential: string | null = null,
): AuditActor {
  return { kind: 'user', id: user.id, display: user.email, credential };
}

@Injectable()
export class SignInService {
  private readonly maxFailures: number;
  private readonly lockoutMs: number;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly clock: IdentityClock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.maxFailures = config.SIGN_IN_MAX_FAILED_ATTEMPTS;
    this.lockoutMs = config.SIGN_IN_LOCKOUT_SEC * 1000;
  }

  async withPassword(dto: PasswordSignInDto, ip: string | null): Promise<SignInResult> {
    const organization = await organizationBySlug(this.tenantDb, dto.organization);
    if (!organization) {
      await this.hasher.burn(dto.password);
      throw IdentityException.invalidCredentials();
    }
    const result = await this.tenantDb.run(orgScope(organization.id), async (tx) => {
      const user = await UserRepository.byEmail(tx, organization.id, dto.email, true);
      const refusal = this.refusalOf(user);
      if (!user || !user.passwordHash || refusal) {
        await this.hasher.burn(dto.password);
        await this.recordRefusal(
          tx,
          organization.id,
          user,
          dto.email,
          refusal ?? (user ? 'no_password' : 'unknown_account'),
        );
        return null;
      }
      if (!(await this.hasher.verify(user.passwordHash, dto.password))) {
        await this.registerFailure(tx, user, 'wrong_password');
        return null;
      }
      const current = this.hasher.needsRehash(user.passwordHash)
        ? await UserRepository.update(tx.db, user.id, { passwordHash: await this.hasher.hash(dto.password) })
        : user;
      return this.afterFirstFactor(tx, current, {
        method: 'password',
        providerMfa: false,
        totp: dto.totp,
        ip,
      });
    });
    if (!result) throw IdentityException.invalidCredentials();
    return result;
  }

  /**
   * The second factor, once the first (a password, or an identity provider) has been accepted: a full
   * session when it is satisfied or not required, else an MFA-limited session for the next step.
   * Returns null after recording a wrong code.
   */
  async afterFirstFactor(tx: TenantTx, user: UserRecord, factor: FirstFactor): Promise<SignInResult | null> {
    if (user.totpSecret && !factor.providerMfa) {
      if (factor.totp === undefined)
        return this.pending(tx, user, 'mfa_verification', factor.method, factor.ip);
      const step = this.checkCode(user.totpSecret, factor.totp, user.totpLastStep);
      if (step === null) {
        await this.registerFailure(tx, user, 'wrong_code');
        return null;
      }
      return this.complete(tx, user, { method: factor.method, mfa: true, step, ip: factor.ip });
    }
    if (!factor.providerMfa && isOrganizationRole(user.role)) {
      return this.pending(tx, user, 'mfa_enrollment', factor.method, factor.ip);
    }
    return this.complete(tx, user, {
      method: factor.method,
      mfa: factor.providerMfa || user.totpSecret !== null,
      ip: factor.ip,
    });
  }

  /** Starts TOTP enrollment for an MFA-limited session: a new seed, pending until a code confirms it. */
  async enrollTotp(dto: MfaTokenDto): Promise<TotpEnrollment> {
    const session = await this.sessions.findPending(dto.mfaToken, ['mfa_enrollment']);
    if (!session) throw IdentityException.mfaTokenInvalid();
    return this.tenantDb.run(orgScope(session.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, session.organizationId, session.userId, true);
      if (!user || this.refusalOf(user)) throw IdentityException.mfaTokenInvalid();
      if (user.totpSecret) throw this.alreadyEnrolled();
      const secret = newTotpSecret();
      await UserRepository.update(tx.db, user.id, {
        totpPendingSecret: this.secrets.seal(secret.toString('base64')),
      });
      const rows = (await tx.db.query(`SELECT name FROM organizations WHERE id = $1`, [
        user.organizationId,
      ])) as {
        name: string;
      }[];
      return {
        secret: base32Encode(secret),
        otpauthUri: otpauthUri(`Medfleet (${rows[0]?.name ?? 'MSP'})`, user.email, secret),
        ...DEFAULT_TOTP,
      };
    });
  }

  /** Confirms enrollment with a first code: the seed becomes the user's, and the sign-in completes. */
  async confirmTotp(dto: MfaCodeDto, ip: string | null): Promise<SignedIn> {
    const session = await this.sessions.findPending(dto.mfaToken, ['mfa_enrollment']);
    if (!session) throw IdentityException.mfaTokenInvalid();
    const result = await this.tenantDb.run(orgScope(session.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, session.organizationId, session.userId, true);
      if (!user) return null;
      const refusal = this.refusalOf(user);
      if (refusal) {
        await this.recordRefusal(tx, user.organizationId, user, user.email, refusal);
        return null;
      }
      if (user.totpSecret) throw this.alreadyEnrolled();
      if (!user.totpPendingSecret) {
        throw new IdentityException(
          IdentityErrorCode.MFA_ENROLLMENT_NOT_STARTED,
          HttpStatus.CONFLICT,
          'Start the enrollment (POST /auth/mfa/enroll) before confirming it',
        );
      }
      const step = this.checkCode(user.totpPendingSecret, dto.code, null);
      if (step === null) {
        await this.registerFailure(tx, user, 'wrong_code');
        return null;
      }
      const enrolled = await UserRepository.update(tx.db, user.id, {
        totpSecret: user.totpPendingSecret,
        totpPendingSecret: null,
        totpEnrolledAt: this.clock.now(),
        updatedAt: this.clock.now(),
      });
      await this.audit.record(tx, {
        action: IdentityAuditAction.mfaEnroll,
        actor: userActor(user, `session:${session.id}`),
        tenantId: user.tenantId,
        target: { type: 'user', id: user.id },
        details: { factor: 'totp' },
      });
      await this.sessions.revoke(tx.db, session.id);
      return this.complete(tx, enrolled, { method: session.method, mfa: true, step, ip });
    });
    if (!result) throw IdentityException.invalidCredentials();
    return result;
  }

  /** The second step of a sign-in whose first factor did not include MFA: the TOTP code. */
  async verifyTotp(dto: MfaCodeDto, ip: string | null): Promise<SignedIn> {
    const session = await this.sessions.findPending(dto.mfaToken, ['mfa_verification']);
    if (!session) throw IdentityException.mfaTokenInvalid();
    const result = await this.tenantDb.run(orgScope(session.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, session.organizationId, session.userId, true);
      if (!user?.totpSecret) return null;
      const refusal = this.refusalOf(user);
      if (refusal) {
        await this.recordRefusal(tx, user.organizationId, user, user.email, refusal);
        return null;
      }
      const step = this.checkCode(user.totpSecret, dto.code, user.totpLastStep);
      if (step === null) {
        await this.registerFailure(tx, user, 'wrong_code');
        return null;
      }
      await this.sessions.revoke(tx.db, session.id);
      return this.complete(tx, user, { method: session.method, mfa: true, step, ip });
    });
    if (!result) throw IdentityException.invalidCredentials();
    return result;
  }

  /** For a signed-in user without TOTP (practice staff opting in): an MFA-limited session to enroll with. */
  async startTotpSetup(auth: Principal, ip: string | null): Promise<MfaRequired> {
    if (!isUserPrincipal(auth) || auth.kind !== 'user')
      throw IdentityException.sessionRequired('Setting up MFA');
    return this.tenantDb.run(orgScope(auth.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId);
      const session = await this.sessions.byId(tx.db, auth.credentialId);
      if (!user || !session) throw IdentityException.sessionRequired('Setting up MFA');
      if (user.totpSecret) throw this.alreadyEnrolled();
      return this.pending(tx, user, 'mfa_enrollment', session.method, ip);
    });
  }

  async signOut(auth: Principal): Promise<void> {
    if (!isUserPrincipal(auth) || auth.kind !== 'user')
      throw IdentityException.sessionRequired('Signing out');
    await this.tenantDb.run(orgScope(auth.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId);
      await this.sessions.revoke(tx.db, auth.credentialId);
      await this.audit.record(tx, {
        action: IdentityAuditAction.signOut,
        actor: userActor({ id: auth.userId, email: user?.email ?? '' }, `session:${auth.credentialId}`),
        tenantId: user?.tenantId ?? null,
        target: { type: 'session', id: auth.credentialId },
      });
    });
  }

  /** Changes the caller's password; every other session of theirs ends. */
  async changePassword(auth: Principal, dto: ChangePasswordDto): Promise<void> {
    if (!isUserPrincipal(auth) || auth.kind !== 'user')
      throw IdentityException.sessionRequired('Changing a password');
    const changed = await this.tenantDb.run(orgScope(auth.organizationId), async (tx) => {
      const user = await UserRepository.byId(tx.db, auth.organizationId, auth.userId, true);
      if (!user) return false;
      const refusal = this.refusalOf(user);
      if (refusal || !user.passwordHash) {
        await this.recordRefusal(tx, user.organizationId, user, user.email, refusal ?? 'no_password');
        return false;
      }
      if (!(await this.hasher.verify(user.passwordHash, dto.currentPassword))) {
        await this.registerFailure(tx, user, 'wrong_password');
        return false;
      }
      const slug = await this.slugOf(tx, user.organizationId);
      const problems = passwordProblems(dto.newPassword, {
        email: user.email,
        displayName: user.displayName,
        organizationSlug: slug,
      });
      if (problems.length > 0) throw IdentityException.passwordPolicy(problems);
      const now = this.clock.now();
      await UserRepository.update(tx.db, user.id, {
        passwordHash: await this.hasher.hash(dto.newPassword),
        passwordChangedAt: now,
        failedAttempts: 0,
        updatedAt: now,
      });
      const ended = await this.sessions.revokeAllOf(tx.db, user.id, auth.credentialId);
      await this.audit.record(tx, {
        action: IdentityAuditAction.passwordChange,
        actor: userActor(user, `session:${auth.credentialId}`),
        tenantId: user.tenantId,
        target: { type: 'user', id: user.id },
        details: { otherSessionsEnded: ended },
      });
      return true;
    });
    if (!changed) throw IdentityException.invalidCredentials();
  }

  async slugOf(tx: TenantTx, organizationId: string): Promise<string | undefined> {
    const rows = (await tx.db.query(`SELECT slug FROM organizations WHERE id = $1`, [organizationId])) as {
      slug: string;
    }[];
    return rows[0]?.slug;
  }

  /** Why an existing account may not sign in now, if it may not. */
  refusalOf(user: UserRecord | null): 'disabled' | 'locked' | null {
    if (!user) return null;
    if (user.disabledAt) return 'disabled';
    if (user.lockedUntil && user.lockedUntil.getTime() > this.clock.now().getTime()) return 'locked';
    return null;
  }

  /** Records a refused attempt that does not count against the account (it is unknown, disabled or locked already). */
  async recordRefusal(
    tx: TenantTx,
    organizationId: string,
    user: UserRecord | null,
    email: string,
    reason: FailureReason,
  ): Promise<void> {
    await this.audit.record(tx, {
      action: IdentityAuditAction.signInFailed,
      actor: user ? userActor(user) : { kind: 'anonymous', id: null, display: email },
      organizationId,
      tenantId: user?.tenantId ?? null,
      target: user ? { type: 'user', id: user.id } : null,
      details: { reason },
    });
  }

  /** Counts a wrong password or code; at the limit the account locks for SIGN_IN_LOCKOUT_SEC. */
  async registerFailure(tx: TenantTx, user: UserRecord, reason: FailureReason): Promise<void> {
    const attempts = user.failedAttempts + 1;
    const locks = attempts >= this.maxFailures;
    const lockedUntil = locks ? new Date(this.clock.now().getTime() + this.lockoutMs) : null;
    await UserRepository.update(
      tx.db,
      user.id,
      locks ? { failedAttempts: 0, lockedUntil } : { failedAttempts: attempts },
    );
    await this.audit.record(tx, {
      action: IdentityAuditAction.signInFailed,
      actor: userActor(user),
      tenantId: user.tenantId,
      target: { type: 'user', id: user.id },
      details: { reason, failedAttempts: locks ? this.maxFailures : attempts, lockedUntil },
    });
  }

  private async complete(
    tx: TenantTx,
    user: UserRecord,
    options: { method: SignInMethod; mfa: boolean; step?: number; ip: string | null },
  ): Promise<SignedIn> {
    const now = this.clock.now();
    const signedIn = await UserRepository.update(tx.db, user.id, {
      failedAttempts: 0,
      lockedUntil: null,
      lastSignInAt: now,
      ...(options.step !== undefined ? { totpLastStep: options.step } : {}),
    });
    const session = await this.sessions.issue(tx.db, signedIn, {
      stage: 'full',
      method: options.method,
      mfa: options.mfa,
      ip: options.ip,
    });
    await this.audit.record(tx, {
      action: IdentityAuditAction.signIn,
      actor: userActor(user, `session:${session.id}`),
      tenantId: user.tenantId,
      target: { type: 'user', id: user.id },
      details: { method: options.method, mfa: options.mfa },
    });
    return {
      status: 'signed_in',
      session: {
        token: session.token,
        expiresAt: session.expiresAt,
        idleTimeoutSeconds: this.sessions.idleTimeoutSeconds,
      },
      user: toUserView(signedIn, now),
    };
  }

  private async pending(
    tx: TenantTx,
    user: UserRecord,
    stage: Exclude<SessionStage, 'full'>,
    method: SignInMethod,
    ip: string | null,
  ): Promise<MfaRequired> {
    const session = await this.sessions.issue(tx.db, user, { stage, method, mfa: false, ip });
    return {
      status: stage === 'mfa_enrollment' ? 'mfa_enrollment_required' : 'mfa_verification_required',
      mfaToken: session.token,
      expiresAt: session.expiresAt,
    };
  }

  private checkCode(sealedSecret: string, code: string, lastUsedStep: number | null): number | null {
    const secret = Buffer.from(this.secrets.open(sealedSecret), 'base64');
    return verifyTotp(secret, code, this.clock.now(), { lastUsedStep });
  }

  private alreadyEnrolled(): IdentityException {
    return new IdentityException(
      IdentityErrorCode.MFA_ALREADY_ENROLLED,
      HttpStatus.CONFLICT,
      'TOTP is already enrolled for this account; an administrator can reset it',
    );
  }
}
