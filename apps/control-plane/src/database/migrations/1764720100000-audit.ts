/**
 * The audit trail: an append-only, hash-chained log with signed checkpoints. One chain per tenant (its
 * events) and one per organization (organization-level events); the chain key is the tenant id or the
 * organization id, so keys and indexes lead with the tenant for tenant-owned rows. The app role may only
 * INSERT and SELECT; a trigger refuses UPDATE, TRUNCATE and (outside the retention purge) DELETE even to
 * the owner, so a change to the log needs a superuser acting on purpose, and verification finds it.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

const AUDIT_TABLES = ['audit_entries', 'audit_checkpoints'] as const;

export class Audit1764720100000 implements MigrationInterface {
  name = 'Audit1764720100000';

  async up(db: QueryRunner): Promise<void> {
    // Public keys that signed checkpoints, so verification still works after a key rotation.
    await db.query(`
      CREATE TABLE audit_signing_keys (
        key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{32}$'),
        algorithm text NOT NULL CHECK (algorithm = 'Ed25519'),
        public_key_pem text NOT NULL CHECK (length(public_key_pem) < 1000),
        registered_at timestamptz NOT NULL DEFAULT now()
      )`);

    await db.query(`
      CREATE TABLE audit_entries (
        chain_key uuid NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        id uuid NOT NULL,
        hash_version smallint NOT NULL CHECK (hash_version = 1),
        occurred_at timestamptz NOT NULL,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        tenant_id uuid REFERENCES tenants (id),
        actor_kind text NOT NULL CHECK (actor_kind ~ '^[a-z][a-z_]{0,31}$'),
        actor_id text CHECK (length(actor_id) BETWEEN 1 AND 200),
        actor_display text CHECK (length(actor_display) <= 300),
        actor_credential text CHECK (length(actor_credential) <= 300),
        action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$' AND length(action) <= 100),
        target_type text CHECK (length(target_type) <= 64),
        target_id text CHECK (length(target_id) <= 200),
        source_ip text CHECK (source_ip IS NULL OR (length(source_ip) <= 64 AND source_ip::inet IS NOT NULL)),
        user_agent text CHECK (length(user_agent) <= 512),
        before jsonb,
        after jsonb,
        details jsonb,
        prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash bytea NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (chain_key, seq),
        UNIQUE (chain_key, id),
        CHECK (chain_key = coalesce(tenant_id, organization_id)),
        CHECK ((target_type IS NULL) = (target_id IS NULL))
      )`);
    await db.query(`CREATE INDEX audit_entries_time_idx ON audit_entries (chain_key, occurred_at, id)`);
    await db.query(
      `CREATE INDEX audit_entries_org_time_idx ON audit_entries (organization_id, occurred_at, id)`,
    );
    await db.query(`CREATE INDEX audit_entries_action_idx ON audit_entries (chain_key, action, seq)`);

    await db.query(`
      CREATE TABLE audit_checkpoints (
        chain_key uuid NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        tenant_id uuid REFERENCES tenants (id),
        hash bytea NOT NULL CHECK (length(hash) = 32),
        created_at timestamptz NOT NULL,
        key_id text NOT NULL REFERENCES audit_signing_keys (key_id),
        signature bytea NOT NULL CHECK (length(signature) = 64),
        PRIMARY KEY (chain_key, seq),
        CHECK (chain_key = coalesce(tenant_id, organization_id))
      )`);

    // The chains a transaction may read and append to: its tenants' chains, plus its organization's chain
    // when the principal acts organization-wide. Practice users never see the organization's chain.
    await db.query(`
      CREATE FUNCTION medfleet_audit_chains() RETURNS uuid[] LANGUAGE sql STABLE AS $$
        SELECT array_remove(medfleet_allowed_tenants() || medfleet_org_id(), NULL)
      $$`);

    // Defence in depth beside the grants: no role edits the log through ordinary SQL; only the retention
    // purge (owner, transaction-local flag) deletes, and only what retention allows (see the purge code).
    await db.query(`
      CREATE FUNCTION medfleet_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('medfleet.audit_purge', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);

    for (const table of AUDIT_TABLES) {
      await db.query(`
        CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
          FOR EACH ROW EXECUTE FUNCTION medfleet_audit_append_only()`);
      await db.query(`
        CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION medfleet_audit_append_only()`);

      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(`
        CREATE POLICY ${table}_read ON ${table} FOR SELECT TO ${APP_ROLE}
          USING (chain_key = ANY ((SELECT medfleet_audit_chains())::uuid[]))`);
      // A tenant entry must name the tenant's own organization (the organization filter relies on it).
      await db.query(`
        CREATE POLICY ${table}_append ON ${table} FOR INSERT TO ${APP_ROLE}
          WITH CHECK (
            chain_key = ANY ((SELECT medfleet_audit_chains())::uuid[])
            AND (tenant_id IS NULL
                 OR organization_id = (SELECT t.organization_id FROM tenants t WHERE t.id = tenant_id))
          )`);
      // Verification, checkpoints and the retention purge run as the owner (the migrating role), which
      // FORCE'd row-level security would otherwise blind.
      await db.query(`CREATE POLICY ${table}_maintenance ON ${table} TO CURRENT_USER USING (true)`);

      await db.query(`REVOKE ALL ON ${table} FROM PUBLIC`);
      await db.query(`GRANT SELECT, INSERT ON ${table} TO ${APP_ROLE}`);
    }
    await db.query(`REVOKE ALL ON audit_signing_keys FROM PUBLIC`);
    await db.query(`GRANT SELECT, INSERT ON audit_signing_keys TO ${APP_ROLE}`);
    await db.query(`GRANT EXECUTE ON FUNCTION medfleet_audit_chains() TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE audit_checkpoints, audit_entries, audit_signing_keys`);
    await db.query(`DROP FUNCTION medfleet_audit_append_only(), medfleet_audit_chains()`);
  }
}
