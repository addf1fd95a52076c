/**
 * The time identity decisions are made at: session expiry, lockout, TOTP steps, token expiry. One
 * injectable source, so tests can move it instead of sleeping.
 */
import { Injectable } from '@nestjs/common';

@Injectable()
export class IdentityClock {
  now(): Date {
    return new Date();
  }
}
