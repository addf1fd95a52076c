// The agent's copy of its site's maintenance policy follows the site: every change that can change the copy (the
// site's policy, its own blackouts, its organization's and county's blackouts, its time zone or county) bumps the
// site's `maintenance_rev` in the same transaction, by triggers, so no code path can forget it; the dispatcher
// gives agents whose `maintenance_rev` is behind their site's a new config version carrying the copy.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AgentPolicyCopy1764720900000 implements MigrationInterface {
  name = 'AgentPolicyCopy1764720900000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE sites ADD COLUMN maintenance_rev bigint NOT NULL DEFAULT 1`);
    // NULL: the agent's copy was never made from its site (it gets one at the next pass).
    await db.query(`ALTER TABLE agents ADD COLUMN maintenance_rev bigint`);

    await db.query(`
      CREATE FUNCTION medfleet_site_maintenance_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed record;
      BEGIN
        IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
        UPDATE sites SET maintenance_rev = maintenance_rev + 1
         WHERE tenant_id = changed.tenant_id AND id = changed.site_id;
        IF TG_OP = 'UPDATE' AND OLD.site_id IS DISTINCT FROM NEW.site_id THEN
          UPDATE sites SET maintenance_rev = maintenance_rev + 1 WHERE tenant_id = OLD.tenant_id AND id = OLD.site_id;
        END IF;
        RETURN NULL;
      END $$`);
    for (const table of ['site_maintenance_policies', 'site_blackouts']) {
      await db.query(`
        CREATE TRIGGER ${table}_bump_site AFTER INSERT OR UPDATE OR DELETE ON ${table}
          FOR EACH ROW EXECUTE FUNCTION medfleet_site_maintenance_changed()`);
    }

    // An organization's freeze reaches all its sites, a county's the sites of that county (compared as the API
    // compares them, case-insensitively); a changed county or scope reaches the sites of the old one too.
    await db.query(`
      CREATE FUNCTION medfleet_organization_blackout_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP <> 'INSERT' THEN
          UPDATE sites SET maintenance_rev = maintenance_rev + 1
           WHERE tenant_id IN (SELECT id FROM tenants WHERE organization_id = OLD.organization_id)
             AND (OLD.scope = 'organization' OR lower(county) = lower(OLD.county));
        END IF;
        IF TG_OP <> 'DELETE' THEN
          UPDATE sites SET maintenance_rev = maintenance_rev + 1
           WHERE tenant_id IN (SELECT id FROM tenants WHERE organization_id = NEW.organization_id)
             AND (NEW.scope = 'organization' OR lower(county) = lower(NEW.county));
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER organization_blackouts_bump_sites AFTER INSERT OR UPDATE OR DELETE ON organization_blackouts
        FOR EACH ROW EXECUTE FUNCTION medfleet_organization_blackout_changed()`);

    await db.query(`
      CREATE FUNCTION medfleet_site_zone_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.maintenance_rev := OLD.maintenance_rev + 1;
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE TRIGGER sites_zone_bump BEFORE UPDATE ON sites FOR EACH ROW
        WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone OR OLD.county IS DISTINCT FROM NEW.county)
        EXECUTE FUNCTION medfleet_site_zone_changed()`);

    // The dispatcher's scan compares agents with their sites (ids and revisions only).
    await db.query(`
      CREATE POLICY sites_dispatch_scan ON sites FOR SELECT
        USING (current_setting('medfleet.dispatch_scan', true) = 'on')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP POLICY sites_dispatch_scan ON sites`);
    await db.query(`DROP TRIGGER sites_zone_bump ON sites`);
    await db.query(`DROP FUNCTION medfleet_site_zone_changed()`);
    await db.query(`DROP TRIGGER organization_blackouts_bump_sites ON organization_blackouts`);
    await db.query(`DROP FUNCTION medfleet_organization_blackout_changed()`);
    for (const table of ['site_maintenance_policies', 'site_blackouts']) {
      await db.query(`DROP TRIGGER ${table}_bump_site ON ${table}`);
    }
    await db.query(`DROP FUNCTION medfleet_site_maintenance_changed()`);
    await db.query(`ALTER TABLE agents DROP COLUMN maintenance_rev`);
    await db.query(`ALTER TABLE sites DROP COLUMN maintenance_rev`);
  }
}
