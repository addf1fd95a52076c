/**
 * The audit trail's canonical forms: what an entry's hash covers and what a checkpoint's signature covers.
 * An auditor verifying an export offline reimplements exactly this (README, "Audit trail").
 */
import { createHash } from 'node:crypto';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Bumped (with a new `hash_version`) only if the canonical form below ever changes. */
export const HASH_VERSION = 1;

/** The `prev_hash` of a chain's first entry. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

export interface AuditActorFields {
  /** `api_key`, `user`, `agent`, `system`, `anonymous`, … */
  kind: string;
  id: string | null;
  /** A human label at the time of the event (key name, user e-mail, agent hostname). */
  display: string | null;
  /** The credential a user acted through (`personal_token:<id>`, `session:<id>`), when not the user itself. */
  credential: string | null;
}

/** Every field of an entry the hash covers (all of them but the hash itself). */
export interface HashedEntry {
  chainKey: string;
  seq: number;
  id: string;
  occurredAt: Date;
  organizationId: string;
  tenantId: string | null;
  actor: AuditActorFields;
  action: string;
  target: { type: string; id: string } | null;
  source: { ip: string | null; userAgent: string | null };
  before: JsonValue;
  after: JsonValue;
  details: JsonValue;
}

export interface CheckpointFields {
  chainKey: string;
  seq: number;
  hash: Buffer;
  organizationId: string;
  tenantId: string | null;
  createdAt: Date;
  keyId: string;
}

/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values audit entries hold: object keys sorted by UTF-16
 * code units, no whitespace, numbers and strings in their ECMAScript JSON form.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new TypeError('canonical JSON has no form for a non-finite number');
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .filter((key) => value[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`);
  return `{${members.join(',')}}`;
}

/** The canonical document an entry's hash is taken over: its fields, its version and the previous hash. */
export function entryDocument(entry: HashedEntry, prevHash: Buffer): string {
  return canonicalJson({
    v: HASH_VERSION,
    chainKey: entry.chainKey,
    seq: entry.seq,
    id: entry.id,
    occurredAt: entry.occurredAt.toISOString(),
    organizationId: entry.organizationId,
    tenantId: entry.tenantId,
    actor: { ...entry.actor },
    action: entry.action,
    target: entry.target ? { ...entry.target } : null,
    source: { ...entry.source },
    before: entry.before,
    after: entry.after,
    details: entry.details,
    prevHash: prevHash.toString('hex'),
  });
}

/** SHA-256 over the UTF-8 bytes of the entry's canonical document. */
export function entryHash(entry: HashedEntry, prevHash: Buffer): Buffer {
  return createHash('sha256').update(entryDocument(entry, prevHash), 'utf8').digest();
}

/** The exact text an Ed25519 checkpoint signature covers. */
export function checkpointPayload(checkpoint: CheckpointFields): string {
  return canonicalJson({
    v: HASH_VERSION,
    type: 'medfleet.audit.checkpoint',
    chainKey: checkpoint.chainKey,
    seq: checkpoint.seq,
    hash: checkpoint.hash.toString('hex'),
    organizationId: checkpoint.organizationId,
    tenantId: checkpoint.tenantId,
    createdAt: checkpoint.createdAt.toISOString(),
    keyId: checkpoint.keyId,
  });
}
