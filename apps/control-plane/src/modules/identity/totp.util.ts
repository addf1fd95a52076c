/** Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), with the base32 and otpauth:// encodings authenticator apps use. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: number;
  /** Seconds per time step. */
  period: number;
}

/** What every common authenticator app supports. */
export const DEFAULT_TOTP: TotpParameters = { algorithm: 'SHA1', digits: 6, period: 30 };

/** A new 160-bit secret, the size RFC 4226 recommends for HMAC-SHA1. */
export function newTotpSecret(): Buffer {
  return randomBytes(20);
}

/** RFC 4226 HOTP: HMAC of the counter, dynamically truncated to `digits` decimal digits. */
export function hotp(secret: Buffer, counter: number, digits = 6, algorithm: TotpAlgorithm = 'SHA1'): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), secret).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

/** The RFC 6238 time step (T) of an instant. */
export function timeStep(at: Date, period = DEFAULT_TOTP.period): number {
  return Math.floor(at.getTime() / 1000 / period);
}

export function totp(secret: Buffer, at: Date, parameters: TotpParameters = DEFAULT_TOTP): string {
  return hotp(secret, timeStep(at, parameters.period), parameters.digits, parameters.algorithm);
}

export interface TotpCheck {
  /** Steps either side of the current one that are accepted, for clock drift and typing time. */
  window?: number;
  /** The step of the last code accepted for this secret: it and earlier steps are refused (no replay). */
  lastUsedStep?: number | null;
  parameters?: TotpParameters;
}

/** Answers the time step the code matches, or null. Compares in constant time per candidate. */
export function verifyTotp(secret: Buffer, code: string, at: Date, check: TotpCheck = {}): number | null {
  const parameters = check.parameters ?? DEFAULT_TOTP;
  if (!new RegExp(`^\\d{${parameters.digits}}$`).test(code)) return null;
  const current = timeStep(at, parameters.period);
  const window = check.window ?? 1;
  let matched: number | null = null;
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotp(secret, step, parameters.digits, parameters.algorithm));
    if (timingSafeEqual(expected, Buffer.from(code)) && matched === null) matched = step;
  }
  if (matched === null) return null;
  if (check.lastUsedStep !== undefined && check.lastUsedStep !== null && matched <= check.lastUsedStep) {
    return null;
  }
  return matched;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as otpauth:// URIs carry secrets. */
export function base32Encode(data: Buffer): string {
  let bits = 0;
  let value = 0;
  let output = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      output += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) output += BASE32[(value << (5 - bits)) & 31];
  return output;
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, '').replace(/\s+/g, '').toUpperCase();
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${JSON.stringify(char)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The `otpauth://totp/…` URI an authenticator app scans as a QR code. */
export function otpauthUri(
  issuer: string,
  account: string,
  secret: Buffer,
  parameters: TotpParameters = DEFAULT_TOTP,
): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: parameters.algorithm,
    digits: String(parameters.digits),
    period: String(parameters.period),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
