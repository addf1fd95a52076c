/**
 * Foundation schema: the tenancy model (organization → tenant → site → agent → device), enrollment,
 * ingest bookkeeping, and row-level security that the application role cannot escape.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export const APP_ROLE = 'medfleet_app';

const TENANT_OWNED = ['sites', 'enrollment_tokens', 'agents', 'devices', 'ingested_messages'] as const;

export class Foundation1764720000000 implements MigrationInterface {
  name = 'Foundation1764720000000';

  async up(db: QueryRunner): Promise<void> {
    // Roles are cluster-wide: another database of the same cluster may have created it already.
    await db.query(`
      DO $$ BEGIN
        CREATE ROLE ${APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    // Changed only when it has to be: two databases migrating at once (test runs, replicas of two deployments)
    // would otherwise race on the same role row ("tuple concurrently updated"); a lost race is checked again.
    await db.query(`
      DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}' AND (rolsuper OR rolbypassrls)) THEN
          ALTER ROLE ${APP_ROLE} NOSUPERUSER NOBYPASSRLS;
        END IF;
      EXCEPTION WHEN OTHERS THEN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}' AND (rolsuper OR rolbypassrls)) THEN
          RAISE;
        END IF;
      END $$`);
    // The connecting (owner) role must be able to SET ROLE to the app role.
    await db.query(`
      DO $$ BEGIN
        IF NOT pg_has_role(current_user, '${APP_ROLE}', 'MEMBER') THEN
          EXECUTE format('GRANT ${APP_ROLE} TO %I', current_user);
        END IF;
      EXCEPTION WHEN OTHERS THEN
        IF NOT pg_has_role(current_user, '${APP_ROLE}', 'MEMBER') THEN
          RAISE;
        END IF;
      END $$`);

    await db.query(`
      CREATE TABLE organizations (
        id uuid PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    // Authentication material is looked up before any tenant context exists; it holds only hashes.
    await db.query(`
      CREATE TABLE org_api_keys (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        name text NOT NULL,
        key_hash bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await db.query(`CREATE INDEX org_api_keys_org_idx ON org_api_keys (organization_id)`);

    await db.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (organization_id, name)
      )`);

    await db.query(`
      CREATE TABLE sites (
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        id uuid NOT NULL,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        address_line text,
        city text,
        state text,
        postal_code text,
        county text,
        time_zone text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, name)
      )`);

    await db.query(`
      CREATE TABLE enrollment_tokens (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        site_id uuid NOT NULL,
        label text,
        token_hash bytea NOT NULL,
        expires_at timestamptz NOT NULL,
        max_uses integer NOT NULL CHECK (max_uses > 0),
        uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
        revoked_at timestamptz,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, token_hash),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
      )`);

    await db.query(`
      CREATE TABLE agents (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        site_id uuid NOT NULL,
        enrollment_token_id uuid,
        hostname text NOT NULL,
        agent_version text NOT NULL,
        os text NOT NULL,
        arch text NOT NULL,
        serial text NOT NULL,
        mac_addresses text[] NOT NULL DEFAULT '{}',
        inventory_interval_sec integer NOT NULL,
        health_interval_sec integer NOT NULL,
        acked_seq bigint NOT NULL DEFAULT 0,
        downlink_seq bigint NOT NULL DEFAULT 0,
        messages_applied bigint NOT NULL DEFAULT 0,
        last_seen_at timestamptz,
        last_health jsonb,
        enrolled_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (id),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX agents_site_idx ON agents (tenant_id, site_id)`);

    await db.query(`
      CREATE TABLE agent_credentials (
        agent_id uuid PRIMARY KEY REFERENCES agents (id),
        tenant_id uuid NOT NULL,
        site_id uuid NOT NULL,
        secret_hash bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);

    await db.query(`
      CREATE TABLE devices (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        site_id uuid NOT NULL,
        mac macaddr NOT NULL,
        ip inet,
        vlan integer CHECK (vlan BETWEEN 0 AND 4094),
        category text NOT NULL,
        vendor text,
        model text,
        serial text,
        firmware_version text,
        os text,
        hostname text,
        first_seen_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        reporting_agent_id uuid NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, site_id, mac),
        FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
        FOREIGN KEY (tenant_id, reporting_agent_id) REFERENCES agents (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX devices_category_idx ON devices (tenant_id, category, id)`);
    await db.query(`CREATE INDEX devices_vendor_idx ON devices (tenant_id, vendor, id)`);

    // One row per committed agent message: the idempotency key of ingest (at-least-once on the wire,
    // exactly once in the database) and the source of the contiguous ack.
    await db.query(`
      CREATE TABLE ingested_messages (
        tenant_id uuid NOT NULL,
        agent_id uuid NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        stream text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('applied', 'dead_lettered', 'skipped')),
        sent_at timestamptz,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, agent_id, seq),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);

    // Refused messages. The tenant is the one the topic claimed (unverified), so tenants only see
    // refusals addressed to them; rows with no parsable tenant are visible to operators only.
    await db.query(`
      CREATE TABLE dead_letters (
        id bigserial PRIMARY KEY,
        claimed_tenant_id uuid,
        claimed_agent_id uuid,
        seq bigint,
        topic text NOT NULL,
        reason text NOT NULL,
        detail text NOT NULL,
        payload_size integer NOT NULL,
        payload_excerpt bytea NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX dead_letters_tenant_idx ON dead_letters (claimed_tenant_id, id)`);

    // The tenants the current transaction may touch: every tenant of the organization when the
    // principal has organization-wide access, plus the tenants named explicitly. Unset means none.
    await db.query(`
      CREATE FUNCTION medfleet_org_id() RETURNS uuid LANGUAGE sql STABLE AS $$
        SELECT nullif(current_setting('medfleet.org_id', true), '')::uuid
      $$`);
    await db.query(`
      CREATE FUNCTION medfleet_explicit_tenants() RETURNS uuid[] LANGUAGE sql STABLE AS $$
        SELECT coalesce(string_to_array(nullif(current_setting('medfleet.tenant_ids', true), ''), ',')::uuid[], '{}')
      $$`);
    await db.query(`
      CREATE FUNCTION medfleet_allowed_tenants() RETURNS uuid[] LANGUAGE sql STABLE AS $$
        SELECT ARRAY(
          SELECT id FROM tenants WHERE organization_id = medfleet_org_id()
          UNION
          SELECT unnest(medfleet_explicit_tenants())
        )
      $$`);

    await db.query(`ALTER TABLE organizations ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(
      `CREATE POLICY organizations_scope ON organizations USING (id = (SELECT medfleet_org_id()))`,
    );

    await db.query(`ALTER TABLE tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY tenants_scope ON tenants
        USING (organization_id = (SELECT medfleet_org_id()) OR id = ANY ((SELECT medfleet_explicit_tenants())::uuid[]))
        WITH CHECK (organization_id = (SELECT medfleet_org_id()))`);

    for (const table of TENANT_OWNED) {
      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(
        `CREATE POLICY ${table}_tenant_scope ON ${table} USING (tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
      );
    }

    await db.query(`ALTER TABLE dead_letters ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(
      `CREATE POLICY dead_letters_read ON dead_letters FOR SELECT USING (claimed_tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
    );
    await db.query(`CREATE POLICY dead_letters_write ON dead_letters FOR INSERT WITH CHECK (true)`);

    await db.query(`GRANT USAGE ON SCHEMA public TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON organizations TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (name) ON organizations TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON org_api_keys TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (last_used_at, revoked_at) ON org_api_keys TO ${APP_ROLE}`);
    await db.query(
      `GRANT SELECT, INSERT, UPDATE ON tenants, sites, enrollment_tokens, agents, devices TO ${APP_ROLE}`,
    );
    await db.query(`GRANT SELECT, INSERT ON agent_credentials TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (revoked_at) ON agent_credentials TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON ingested_messages, dead_letters TO ${APP_ROLE}`);
    await db.query(`GRANT USAGE ON SEQUENCE dead_letters_id_seq TO ${APP_ROLE}`);
    await db.query(
      `GRANT EXECUTE ON FUNCTION medfleet_org_id(), medfleet_explicit_tenants(), medfleet_allowed_tenants() TO ${APP_ROLE}`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of [
      'dead_letters',
      'ingested_messages',
      'devices',
      'agent_credentials',
      'agents',
      'enrollment_tokens',
      'sites',
      'tenants',
      'org_api_keys',
      'organizations',
    ]) {
      await db.query(`DROP TABLE ${table}`);
    }
    await db.query(
      `DROP FUNCTION medfleet_allowed_tenants(), medfleet_explicit_tenants(), medfleet_org_id()`,
    );
  }
}
