/** Patch orchestration: site maintenance policies, blackouts, campaigns, waves and planned jobs. */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

/** Tenant-owned tables: the same row-level security as every other tenant table. */
const TENANT_OWNED = [
  'site_maintenance_policies',
  'site_blackouts',
  'tenant_campaign_settings',
  'campaign_approvals',
  'patch_jobs',
] as const;

export const PATCH_JOB_STATES = [
  'planned',
  'dispatched',
  'running',
  'succeeded',
  'failed',
  'deferred',
  'cancelled',
] as const;

/** The columns a blackout has, whoever declared it: an absolute interval, or whole local nights. */
const BLACKOUT_PERIOD = `
  kind text NOT NULL CHECK (kind IN ('interval', 'local-dates')),
  starts_at timestamptz,
  ends_at timestamptz,
  first_date date,
  last_date date,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (
    (kind = 'interval' AND starts_at IS NOT NULL AND ends_at > starts_at AND first_date IS NULL AND last_date IS NULL)
    OR (kind = 'local-dates' AND first_date IS NOT NULL AND last_date >= first_date AND starts_at IS NULL AND ends_at IS NULL)
  )`;

export class Campaigns1764720600000 implements MigrationInterface {
  name = 'Campaigns1764720600000';

  async up(db: QueryRunner): Promise<void> {
    // One row per site that has a policy of its own; a site without one has the default (22:00–05:00).
    await db.query(`
      CREATE TABLE site_maintenance_policies (
        tenant_id uuid NOT NULL,
        site_id uuid NOT NULL,
        policy jsonb NOT NULL,
        updated_by text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, site_id),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
      )`);

    // A practice's own blackout of one of its sites.
    await db.query(`
      CREATE TABLE site_blackouts (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        site_id uuid NOT NULL,
        ${BLACKOUT_PERIOD},
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX site_blackouts_site_idx ON site_blackouts (tenant_id, site_id)`);

    // The MSP's freezes: the whole organization, or every site of a county.
    await db.query(`
      CREATE TABLE organization_blackouts (
        organization_id uuid NOT NULL REFERENCES organizations (id),
        id uuid NOT NULL,
        scope text NOT NULL CHECK (scope IN ('organization', 'county')),
        county text CHECK (length(county) BETWEEN 1 AND 100),
        ${BLACKOUT_PERIOD},
        CHECK ((scope = 'county') = (county IS NOT NULL)),
        PRIMARY KEY (organization_id, id)
      )`);

    // Whether the practice lets its MSP approve campaigns on its behalf.
    await db.query(`
      CREATE TABLE tenant_campaign_settings (
        tenant_id uuid NOT NULL PRIMARY KEY REFERENCES tenants (id),
        approval_delegated boolean NOT NULL,
        updated_by text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    // A campaign belongs to the MSP and reaches the tenants it lists; each of them approves it.
    await db.query(`
      CREATE TABLE campaigns (
        organization_id uuid NOT NULL REFERENCES organizations (id),
        id uuid NOT NULL,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        description text,
        state text NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
        revision integer NOT NULL DEFAULT 1,
        tenant_ids uuid[] NOT NULL CHECK (cardinality(tenant_ids) > 0),
        site_ids uuid[] NOT NULL DEFAULT '{}',
        target jsonb NOT NULL,
        artifact jsonb,
        procedure jsonb,
        waves jsonb NOT NULL,
        abort_policy jsonb NOT NULL,
        catch_up jsonb NOT NULL,
        durations jsonb NOT NULL,
        earliest_start timestamptz,
        horizon_days integer NOT NULL CHECK (horizon_days BETWEEN 1 AND 366),
        plan_summary jsonb,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        CHECK ((artifact IS NULL) <> (procedure IS NULL)),
        PRIMARY KEY (organization_id, id),
        UNIQUE (id)
      )`);
    await db.query(`CREATE INDEX campaigns_tenants_idx ON campaigns USING gin (tenant_ids)`);

    // One practice's approval of one revision of a campaign: a change to the draft needs a new one.
    await db.query(`
      CREATE TABLE campaign_approvals (
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        revision integer NOT NULL,
        via text NOT NULL CHECK (via IN ('practice', 'delegated')),
        approved_by text NOT NULL,
        comment text,
        approved_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, campaign_id, revision)
      )`);

    await db.query(
      `CREATE TYPE patch_job_state AS ENUM (${PATCH_JOB_STATES.map((state) => `'${state}'`).join(', ')})`,
    );
    await db.query(`
      CREATE TABLE patch_jobs (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        site_id uuid NOT NULL,
        device_id uuid NOT NULL,
        wave integer NOT NULL CHECK (wave >= 0),
        state patch_job_state NOT NULL DEFAULT 'planned',
        window_local_date date NOT NULL,
        planned_start timestamptz NOT NULL,
        planned_end timestamptz NOT NULL,
        window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL,
        rollovers integer NOT NULL DEFAULT 0,
        state_changed_at timestamptz NOT NULL DEFAULT now(),
        dispatched_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        result jsonb,
        CHECK (window_start <= planned_start AND planned_start < planned_end AND planned_end <= window_end),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, campaign_id, device_id),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
        FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
      )`);
    // The dispatcher's queue: due jobs by window start, claimed with FOR UPDATE SKIP LOCKED. Finished jobs
    // leave the index.
    await db.query(`
      CREATE INDEX patch_jobs_dispatch_idx ON patch_jobs (state, window_start)
        WHERE state IN ('planned', 'dispatched', 'running', 'deferred')`);
    // The per-site calendar.
    await db.query(`CREATE INDEX patch_jobs_site_idx ON patch_jobs (tenant_id, site_id, window_start)`);

    for (const table of TENANT_OWNED) {
      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(
        `CREATE POLICY ${table}_tenant_scope ON ${table} USING (tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
      );
    }

    // Organization-owned rows: the organization's principals change them; practice users read what reaches
    // their tenant (a freeze of their organization; a campaign listing their tenant).
    await db.query(`
      CREATE FUNCTION medfleet_explicit_organizations() RETURNS uuid[] LANGUAGE sql STABLE AS $$
        SELECT ARRAY(SELECT organization_id FROM tenants WHERE id = ANY (medfleet_explicit_tenants()))
      $$`);
    await db.query(`ALTER TABLE organization_blackouts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY organization_blackouts_read ON organization_blackouts FOR SELECT
        USING (organization_id = (SELECT medfleet_org_id())
          OR organization_id = ANY ((SELECT medfleet_explicit_organizations())::uuid[]))`);
    await db.query(`ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY campaigns_read ON campaigns FOR SELECT
        USING (organization_id = (SELECT medfleet_org_id())
          OR tenant_ids && (SELECT medfleet_explicit_tenants())::uuid[])`);
    for (const table of ['organization_blackouts', 'campaigns']) {
      await db.query(
        `CREATE POLICY ${table}_insert ON ${table} FOR INSERT WITH CHECK (organization_id = (SELECT medfleet_org_id()))`,
      );
      await db.query(`
        CREATE POLICY ${table}_update ON ${table} FOR UPDATE
          USING (organization_id = (SELECT medfleet_org_id()))
          WITH CHECK (organization_id = (SELECT medfleet_org_id()))`);
    }
    await db.query(
      `CREATE POLICY organization_blackouts_delete ON organization_blackouts FOR DELETE USING (organization_id = (SELECT medfleet_org_id()))`,
    );

    await db.query(
      `GRANT SELECT, INSERT, UPDATE ON site_maintenance_policies, tenant_campaign_settings TO ${APP_ROLE}`,
    );
    await db.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON site_blackouts, organization_blackouts TO ${APP_ROLE}`,
    );
    await db.query(`GRANT SELECT, INSERT, UPDATE ON campaigns TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON campaign_approvals TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT, UPDATE ON patch_jobs TO ${APP_ROLE}`);
    await db.query(`GRANT EXECUTE ON FUNCTION medfleet_explicit_organizations() TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of [
      'patch_jobs',
      'campaign_approvals',
      'campaigns',
      'tenant_campaign_settings',
      'organization_blackouts',
      'site_blackouts',
      'site_maintenance_policies',
    ]) {
      await db.query(`DROP TABLE ${table}`);
    }
    await db.query(`DROP TYPE patch_job_state`);
    await db.query(`DROP FUNCTION medfleet_explicit_organizations()`);
  }
}
