/**
 * Row-level security as the application meets it: a transaction on an owner connection that switches to
 * the app role and puts the tenant scope into the same transaction-local settings TenantDb uses. Probes
 * always roll back, so they never change the data other tests read.
 */
import type pg from 'pg';
import { APP_ROLE } from '../../src/database/migrations/1764720000000-foundation.js';

/** A scope as TenantDb sets it; `null` sets nothing at all (a transaction that forgot its scope). */
export interface DbScope {
  organizationId?: string | null;
  tenantIds?: readonly string[];
}

export type ProbeResult =
  | { ok: true; rowCount: number; rows: Record<string, unknown>[] }
  | { ok: false; code: string; message: string };

/** Begins a transaction as the app role with `scope` applied, exactly like TenantDb.run. */
export async function beginAsApp(client: pg.Client, scope: DbScope | null): Promise<void> {
  await client.query('BEGIN');
  await client.query(`SET LOCAL ROLE ${APP_ROLE}`);
  if (scope) {
    await client.query(
      `SELECT set_config('medfleet.org_id', $1, true), set_config('medfleet.tenant_ids', $2, true)`,
      [scope.organizationId ?? '', (scope.tenantIds ?? []).join(',')],
    );
  }
}

/**
 * Runs one statement as the app role under `scope` and rolls back. A failure of the statement itself is
 * answered (SQLSTATE and message); a failure to set up the scope throws, so it cannot pass for a refusal.
 */
export async function asApp(
  client: pg.Client,
  scope: DbScope | null,
  sql: string,
  params: unknown[] = [],
): Promise<ProbeResult> {
  await beginAsApp(client, scope);
  try {
    const result = await client.query(sql, params);
    return { ok: true, rowCount: result.rowCount ?? 0, rows: result.rows as Record<string, unknown>[] };
  } catch (error) {
    const failure = error as { code?: string; message?: string };
    return { ok: false, code: failure.code ?? 'none', message: failure.message ?? String(error) };
  } finally {
    await client.query('ROLLBACK');
  }
}

/** Runs a statement as the app role and answers its rows; throws when the statement fails. */
export async function selectAsApp<T = Record<string, unknown>>(
  client: pg.Client,
  scope: DbScope | null,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const result = await asApp(client, scope, sql, params);
  if (!result.ok) throw new Error(`${sql} failed as the app role: ${result.code} ${result.message}`);
  return result.rows as T[];
}

/** SQLSTATE insufficient_privilege: both "permission denied" and a row-level security refusal use it. */
export const INSUFFICIENT_PRIVILEGE = '42501';
export const RLS_VIOLATION = /new row violates row-level security policy/;
export const PERMISSION_DENIED = /permission denied/;
