/** How audit entries and checkpoints leave the control plane: API items, JSON lines and CSV rows. */
import { checkpointPayload, type JsonValue } from './audit-hash.util.js';
import type { StoredAuditEntry, StoredCheckpoint } from './audit.repository.js';

export interface AuditEntryView {
  id: string;
  chainKey: string;
  seq: number;
  occurredAt: string;
  organizationId: string;
  tenantId: string | null;
  actor: { kind: string; id: string | null; display: string | null; credential: string | null };
  action: string;
  target: { type: string; id: string } | null;
  source: { ip: string | null; userAgent: string | null };
  before: JsonValue;
  after: JsonValue;
  details: JsonValue;
  hashVersion: number;
  prevHash: string;
  hash: string;
}

export function entryView(entry: StoredAuditEntry): AuditEntryView {
  return {
    id: entry.id,
    chainKey: entry.chainKey,
    seq: entry.seq,
    occurredAt: entry.occurredAt.toISOString(),
    organizationId: entry.organizationId,
    tenantId: entry.tenantId,
    actor: { ...entry.actor },
    action: entry.action,
    target: entry.target,
    source: { ...entry.source },
    before: entry.before,
    after: entry.after,
    details: entry.details,
    hashVersion: entry.hashVersion,
    prevHash: entry.prevHash.toString('hex'),
    hash: entry.hash.toString('hex'),
  };
}

export interface CheckpointView {
  chainKey: string;
  seq: number;
  hash: string;
  organizationId: string;
  tenantId: string | null;
  createdAt: string;
  keyId: string;
  algorithm: 'Ed25519';
  /** The exact UTF-8 text the signature covers. */
  payload: string;
  signature: string;
}

export function checkpointView(checkpoint: StoredCheckpoint): CheckpointView {
  return {
    chainKey: checkpoint.chainKey,
    seq: checkpoint.seq,
    hash: checkpoint.hash.toString('hex'),
    organizationId: checkpoint.organizationId,
    tenantId: checkpoint.tenantId,
    createdAt: checkpoint.createdAt.toISOString(),
    keyId: checkpoint.keyId,
    algorithm: 'Ed25519',
    payload: checkpointPayload(checkpoint),
    signature: checkpoint.signature.toString('base64'),
  };
}

/** One entry per line, the same object the API lists: verifiable offline from this file alone. */
export function jsonLine(view: AuditEntryView): string {
  return `${JSON.stringify(view)}\n`;
}

export const CSV_COLUMNS = [
  'id',
  'chain_key',
  'seq',
  'occurred_at',
  'organization_id',
  'tenant_id',
  'actor_kind',
  'actor_id',
  'actor_display',
  'actor_credential',
  'action',
  'target_type',
  'target_id',
  'source_ip',
  'user_agent',
  'before',
  'after',
  'details',
  'hash_version',
  'prev_hash',
  'hash',
] as const;

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** RFC 4180 row, for spreadsheets; JSON columns hold compact JSON. */
export function csvRow(view: AuditEntryView): string {
  const json = (value: JsonValue) => (value === null ? null : JSON.stringify(value));
  const cells: (string | number | null)[] = [
    view.id,
    view.chainKey,
    view.seq,
    view.occurredAt,
    view.organizationId,
    view.tenantId,
    view.actor.kind,
    view.actor.id,
    view.actor.display,
    view.actor.credential,
    view.action,
    view.target?.type ?? null,
    view.target?.id ?? null,
    view.source.ip,
    view.source.userAgent,
    json(view.before),
    json(view.after),
    json(view.details),
    view.hashVersion,
    view.prevHash,
    view.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * One CSV cell. Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
 * leading apostrophe, so a tenant named `=HYPERLINK(…)` stays text on the auditor's machine; the JSON
 * lines export carries every value unaltered.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}
