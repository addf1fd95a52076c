/**
 * Turns what services hand to the audit trail (entities, views, request data) into the bounded, secret-free
 * JSON and text the log stores, so that what is hashed is exactly what PostgreSQL gives back.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from './audit-hash.util.js';

/** Keys whose values are never written to the log, at any depth: credentials and their hashes. */
const SECRET_KEY =
  /^(token|secret|password|passphrase|otp|totp)$|(Hash|Secret|Password|Passphrase|Token)$|_(hash|secret|password|token)$/;
export const REDACTED = '[redacted]';

/** Larger before/after/details values are replaced by their size and digest. */
export const MAX_JSON_CHARS = 16_384;
const MAX_DEPTH = 12;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A string PostgreSQL stores unchanged in text and jsonb: no NUL, no lone surrogate. */
export function storableText(value: string): string {
  return value.replaceAll(String.fromCharCode(0), '').replace(LONE_SURROGATE, '\uFFFD');
}

/** Storable text clipped to `max` UTF-16 units (without splitting a surrogate pair), or null when empty. */
export function clipText(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  const text = storableText(value).slice(0, max).replace(LONE_SURROGATE, '');
  return text.length > 0 ? text : null;
}

/**
 * The JSON form of `value` for the log: dates as ISO strings, binary and functions dropped, secrets
 * redacted, depth and size bounded. `undefined` becomes null.
 */
export function toAuditJson(value: unknown): JsonValue {
  const converted = convert(value, 0);
  const json = converted === undefined ? null : converted;
  const text = canonicalJson(json);
  if (text.length <= MAX_JSON_CHARS) return json;
  return {
    truncated: true,
    chars: text.length,
    sha256: createHash('sha256').update(text, 'utf8').digest('hex'),
  };
}

function convert(value: unknown, depth: number): JsonValue | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return storableText(value);
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) {
    return value.map((item) => {
      const converted = convert(item, depth + 1);
      return converted === undefined ? null : converted;
    });
  }
  if (value instanceof Map) return convert(Object.fromEntries(value), depth);
  if (value instanceof Set) return convert([...value], depth);
  const result: { [key: string]: JsonValue } = {};
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
    const name = storableText(key);
    if (SECRET_KEY.test(name)) {
      if (member !== undefined && member !== null) result[name] = REDACTED;
      continue;
    }
    const converted = convert(member, depth + 1);
    if (converted !== undefined) result[name] = converted;
  }
  return result;
}
