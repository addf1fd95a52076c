/**
 * The per-address limit on sign-in steps (password, MFA codes, SSO), on top of the per-account lockout:
 * the lockout stops guessing one account's password, this stops spraying one password over many accounts.
 */
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { RateLimiter } from '../../common/rate-limiter.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';

@Injectable()
export class SignInThrottle {
  private readonly limiter: RateLimiter;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const perMinute = config.SIGN_IN_RATE_LIMIT_PER_MINUTE;
    this.limiter = new RateLimiter(perMinute, perMinute / 60);
  }

  /** Takes one attempt for the address, or answers 429 RATE_LIMITED with Retry-After. */
  admit(ip: string | undefined, response: Response): void {
    const key = ip ?? 'unknown';
    if (this.limiter.take(key)) return;
    const retryAfter = Math.max(1, this.limiter.retryAfterSeconds(key));
    response.setHeader('Retry-After', String(retryAfter));
    throw new IdentityException(
      IdentityErrorCode.RATE_LIMITED,
      HttpStatus.TOO_MANY_REQUESTS,
      `Too many sign-in attempts from this address; retry in ${retryAfter} s`,
      { retryAfterSeconds: retryAfter },
    );
  }
}
