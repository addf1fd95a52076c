/** A fingerprint of every application table's contents, to prove a request changed nothing. */
import type pg from 'pg';

/** Tables whose rows a refused request may legitimately add (logs of the attempt itself). */
const EXCLUDED = new Set([
  'schema_migrations',
  'audit_log',
  'audit_entries',
  'audit_checkpoints',
  'login_attempts',
]);

export async function fingerprint(owner: pg.Client): Promise<Record<string, string>> {
  const { rows } = await owner.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const result: Record<string, string> = {};
  for (const { table_name: table } of rows) {
    if (EXCLUDED.has(table) || table.startsWith('audit')) continue;
    // The broker is shared with other test runs: refusals of their agents' messages (claiming tenants this
    // database does not have) land here too and say nothing about this run.
    const where = table === 'dead_letters' ? 'WHERE t.claimed_tenant_id IN (SELECT id FROM tenants)' : '';
    const { rows: digest } = await owner.query<{ d: string | null; n: number }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d, count(*)::int AS n FROM "${table}" t ${where}`,
    );
    result[table] = `${digest[0]?.n}:${digest[0]?.d ?? '-'}`;
  }
  return result;
}
