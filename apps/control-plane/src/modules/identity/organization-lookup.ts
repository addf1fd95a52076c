/** Finds an organization by the slug a person typed at sign-in, before any scope exists. */
import type { TenantDb } from '../../database/tenant-db.js';

export interface OrganizationRef {
  id: string;
  slug: string;
  name: string;
}

/**
 * Row-level security shows the organization to this transaction only because it names the slug (the
 * `organizations_slug_lookup` policy of the identity migration).
 */
export function organizationBySlug(tenantDb: TenantDb, slug: string): Promise<OrganizationRef | null> {
  return tenantDb.unscoped(async (db) => {
    await db.query(`SELECT set_config('medfleet.org_slug', $1, true)`, [slug]);
    const rows = (await db.query(`SELECT id, slug, name FROM organizations WHERE slug = $1`, [
      slug,
    ])) as OrganizationRef[];
    return rows[0] ?? null;
  });
}
