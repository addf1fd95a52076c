/**
 * Bearer credentials are checked before any scope exists. The checking transaction names the one
 * credential it looks for (the id inside the token, or a login state's hash), and row-level security
 * shows it that row and no other (`medfleet_credential()` in the identity migration).
 */
import type { EntityManager } from 'typeorm';
import type { TenantDb } from '../../database/tenant-db.js';

export function withCredential<T>(
  tenantDb: TenantDb,
  credential: string,
  work: (db: EntityManager) => Promise<T>,
): Promise<T> {
  return tenantDb.unscoped(async (db) => {
    await db.query(`SELECT set_config('medfleet.credential', $1, true)`, [credential]);
    return work(db);
  });
}
