// Dispatch of patch jobs: the deployment's work-order signing keys, what a job was dispatched with, and the
// history of each job (dispatcher decisions and agent progress), tenant-scoped with FORCE'd row-level security.
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

export class Dispatch1764720700000 implements MigrationInterface {
  name = 'Dispatch1764720700000';

  async up(db: QueryRunner): Promise<void> {
    // Deployment-level, like the root CA: the private key sealed with the PKI key-encryption key. Readable by the
    // app role only through the dispatcher's and config code; no tenant owns it.
    await db.query(`
      CREATE TABLE work_order_keys (
        key_id text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
        public_key text NOT NULL CHECK (length(public_key) = 43),
        private_key_sealed text NOT NULL,
        -- The key orders are signed with; a rotation would add the next one inactive and switch over.
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    // One signing key at a time: replicas racing to create it end up with the same one.
    await db.query(`CREATE UNIQUE INDEX work_order_keys_one_active ON work_order_keys ((true)) WHERE active`);
    await db.query(`GRANT SELECT, INSERT ON work_order_keys TO ${APP_ROLE}`);

    // Which signing key the agent's desired config carries, so agents still to be given it are found cheaply.
    await db.query(`ALTER TABLE agents ADD COLUMN work_order_key_id text`);
    await db.query(`
      ALTER TABLE patch_jobs
        ADD COLUMN agent_id uuid,
        ADD COLUMN attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        ADD COLUMN work_order_id uuid,
        ADD COLUMN deadline timestamptz,
        ADD COLUMN last_progress_at timestamptz`);

    await db.query(`
      CREATE TABLE patch_job_events (
        tenant_id uuid NOT NULL,
        id bigserial NOT NULL,
        job_id uuid NOT NULL,
        attempt integer NOT NULL,
        source text NOT NULL CHECK (source IN ('agent', 'dispatcher')),
        agent_seq bigint,
        state text NOT NULL,
        reason text,
        step text,
        firmware_version text,
        detail text,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, job_id) REFERENCES patch_jobs (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX patch_job_events_job_idx ON patch_job_events (tenant_id, job_id, id)`);
    await db.query(`ALTER TABLE patch_job_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(
      `CREATE POLICY patch_job_events_tenant_scope ON patch_job_events USING (tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
    );
    await db.query(`GRANT SELECT, INSERT ON patch_job_events TO ${APP_ROLE}`);
    await db.query(`GRANT USAGE ON SEQUENCE patch_job_events_id_seq TO ${APP_ROLE}`);

    // The dispatcher's scan: which tenants have jobs whose window opened. Only that transaction sets the flag;
    // it reads tenant ids and does every write in tenant-scoped transactions.
    await db.query(`
      CREATE POLICY patch_jobs_dispatch_scan ON patch_jobs FOR SELECT
        USING (current_setting('medfleet.dispatch_scan', true) = 'on')`);
    // Agents learn the signing keys through their desired config; the key distribution scans agents too.
    await db.query(`
      CREATE POLICY agents_dispatch_scan ON agents FOR SELECT
        USING (current_setting('medfleet.dispatch_scan', true) = 'on')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP POLICY agents_dispatch_scan ON agents`);
    await db.query(`DROP POLICY patch_jobs_dispatch_scan ON patch_jobs`);
    await db.query(`DROP TABLE patch_job_events`);
    await db.query(`
      ALTER TABLE patch_jobs DROP COLUMN agent_id, DROP COLUMN attempt, DROP COLUMN work_order_id,
        DROP COLUMN deadline, DROP COLUMN last_progress_at`);
    await db.query(`ALTER TABLE agents DROP COLUMN work_order_key_id`);
    await db.query(`DROP TABLE work_order_keys`);
  }
}
