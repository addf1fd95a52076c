/** Error codes of sign-in, sessions, tokens and user management, in the API's one error shape. */
import { HttpStatus } from '@nestjs/common';
import { AppException } from '../../common/errors/app-exception.js';

export enum IdentityErrorCode {
  /** Wrong organization, email, password or code, a disabled or a temporarily locked account: one answer for all. */
  INVALID_CREDENTIALS = 'INVALID_CREDENTIALS',
  RATE_LIMITED = 'RATE_LIMITED',
  /** The MFA step's token is unknown, expired, used, or of another step. */
  MFA_TOKEN_INVALID = 'MFA_TOKEN_INVALID',
  MFA_ALREADY_ENROLLED = 'MFA_ALREADY_ENROLLED',
  MFA_ENROLLMENT_NOT_STARTED = 'MFA_ENROLLMENT_NOT_STARTED',
  PASSWORD_POLICY = 'PASSWORD_POLICY',
  ROLE_NOT_GRANTABLE = 'ROLE_NOT_GRANTABLE',
  ROLE_CHANGE_INVALID = 'ROLE_CHANGE_INVALID',
  CANNOT_CHANGE_SELF = 'CANNOT_CHANGE_SELF',
  /** The action needs an interactive sign-in session, not an API key or a personal token. */
  SESSION_REQUIRED = 'SESSION_REQUIRED',
  TOKEN_PERMISSIONS_EXCEED_ROLE = 'TOKEN_PERMISSIONS_EXCEED_ROLE',
  TOKEN_EXPIRY_INVALID = 'TOKEN_EXPIRY_INVALID',
  SSO_NOT_CONFIGURED = 'SSO_NOT_CONFIGURED',
  SSO_STATE_INVALID = 'SSO_STATE_INVALID',
  SSO_FAILED = 'SSO_FAILED',
  SSO_DENIED = 'SSO_DENIED',
  SSO_PROVIDER_UNAVAILABLE = 'SSO_PROVIDER_UNAVAILABLE',
  SSO_MSP_ADMIN_ONLY = 'SSO_MSP_ADMIN_ONLY',
}

export class IdentityException extends AppException {
  constructor(
    code: IdentityErrorCode,
    status: HttpStatus,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, status, message, details);
    this.name = 'IdentityException';
  }

  static invalidCredentials(): IdentityException {
    return new IdentityException(
      IdentityErrorCode.INVALID_CREDENTIALS,
      HttpStatus.UNAUTHORIZED,
      'Sign-in failed: the organization, email, password or code is wrong, or the account is disabled or temporarily locked after repeated failures',
    );
  }

  static mfaTokenInvalid(): IdentityException {
    return new IdentityException(
      IdentityErrorCode.MFA_TOKEN_INVALID,
      HttpStatus.UNAUTHORIZED,
      'The MFA token is invalid, expired or already used: sign in again',
    );
  }

  static sessionRequired(action: string): IdentityException {
    return new IdentityException(
      IdentityErrorCode.SESSION_REQUIRED,
      HttpStatus.FORBIDDEN,
      `${action} needs a signed-in user session (not an API key or a personal token)`,
    );
  }

  static passwordPolicy(problems: string[]): IdentityException {
    return new IdentityException(
      IdentityErrorCode.PASSWORD_POLICY,
      HttpStatus.BAD_REQUEST,
      `The password does not meet the policy: it ${problems.join('; it ')}`,
      { problems },
    );
  }
}
