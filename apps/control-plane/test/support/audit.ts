/** Helpers for the audit-trail tests: reading entries, tampering as a superuser would, parsing CSV. */
import type pg from 'pg';
import type { AuditEntryView } from '../../src/modules/audit/audit-view.js';
import type { ApiClient } from './api-client.js';

/** An entry as the API answers it; tests read the JSON fields freely. */
export type AuditEntry = Omit<AuditEntryView, 'before' | 'after' | 'details'> & {
  before: any;
  after: any;
  details: any;
};

/** Every entry a query answers, all pages (newest first, as the API lists them). */
export async function auditEntries(api: ApiClient, query = ''): Promise<AuditEntry[]> {
  const pages = await api.pages<AuditEntry>(`/audit/entries${query ? `?${query}` : ''}`, 200);
  return pages.flatMap((page) => page.items);
}

/**
 * Runs statements as a superuser who means to hide something: with triggers off (the append-only trigger
 * would refuse even the owner), in one transaction.
 */
export async function tamper(owner: pg.Client, statements: [string, unknown[]?][]): Promise<void> {
  await owner.query('BEGIN');
  try {
    await owner.query(`SET LOCAL session_replication_role = replica`);
    for (const [sql, params] of statements) await owner.query(sql, params ?? []);
    await owner.query('COMMIT');
  } catch (error) {
    await owner.query('ROLLBACK');
    throw error;
  }
}

/** A chain's rows as stored, in seq order (owner view). */
export async function chainRows(
  owner: pg.Client,
  chainKey: string,
): Promise<{ seq: number; id: string; action: string; occurred_at: Date }[]> {
  const { rows } = await owner.query(
    `SELECT seq::int AS seq, id, action, occurred_at FROM audit_entries WHERE chain_key = $1 ORDER BY seq`,
    [chainKey],
  );
  return rows;
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF), enough to read the export back. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        cell += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else {
      cell += char;
    }
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
