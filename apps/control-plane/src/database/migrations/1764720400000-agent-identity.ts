/** Agent identity: approval of enrollments, pre-authorized serials, the organization CA and agent certificates. */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

export class AgentIdentity1764720400000 implements MigrationInterface {
  name = 'AgentIdentity1764720400000';

  async up(db: QueryRunner): Promise<void> {
    // An agent enrolled with a token that requires approval waits as 'pending' until a technician accepts it.
    await db.query(`
      ALTER TABLE agents ADD COLUMN approval_state text NOT NULL DEFAULT 'approved'
        CHECK (approval_state IN ('pending', 'approved', 'rejected'))`);

    // NULL allowed_serials: any box may use the token; otherwise only the listed hardware serials.
    await db.query(`
      ALTER TABLE enrollment_tokens
        ADD COLUMN requires_approval boolean NOT NULL DEFAULT false,
        ADD COLUMN allowed_serials text[]`);

    // What a pending agent proves itself with on each poll, and the CSR it sent, signed once it is approved.
    // The row goes when the agent collects its credentials.
    await db.query(`
      CREATE TABLE agent_pending_enrollments (
        tenant_id uuid NOT NULL,
        agent_id uuid NOT NULL,
        poll_secret_hash bytea NOT NULL,
        csr_pem text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, agent_id),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);

    // The deployment's root CA (kind 'root', one) signs one CA per organization (kind 'organization'),
    // which signs that organization's agent certificates. Private keys are stored sealed (AES-256-GCM);
    // the key that seals them is never in the database. The root is visible to every transaction; an
    // organization's CA only to transactions scoped to that organization or one of its tenants.
    await db.query(`
      CREATE TABLE certificate_authorities (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('root', 'organization')),
        organization_id uuid REFERENCES organizations (id),
        certificate_pem text NOT NULL,
        private_key_sealed text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((kind = 'root') = (organization_id IS NULL))
      )`);
    await db.query(
      `CREATE UNIQUE INDEX certificate_authorities_one_root ON certificate_authorities (kind) WHERE kind = 'root'`,
    );
    await db.query(
      `CREATE UNIQUE INDEX certificate_authorities_one_per_org ON certificate_authorities (organization_id)`,
    );

    // Every certificate issued to an agent; mutual TLS accepts only certificates recorded here.
    await db.query(`
      CREATE TABLE agent_certificates (
        tenant_id uuid NOT NULL,
        serial text NOT NULL,
        agent_id uuid NOT NULL,
        fingerprint_sha256 text NOT NULL,
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, serial),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX agent_certificates_agent ON agent_certificates (tenant_id, agent_id)`);

    for (const table of ['agent_pending_enrollments', 'agent_certificates']) {
      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(
        `CREATE POLICY ${table}_tenant_scope ON ${table} USING (tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
      );
    }
    await db.query(`ALTER TABLE certificate_authorities ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY certificate_authorities_scope ON certificate_authorities
        USING (organization_id IS NULL OR organization_id IN (
          SELECT t.organization_id FROM tenants t WHERE t.id = ANY ((SELECT medfleet_allowed_tenants())::uuid[])))`);
    await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON agent_pending_enrollments TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON agent_certificates, certificate_authorities TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE agent_certificates`);
    await db.query(`DROP TABLE certificate_authorities`);
    await db.query(`DROP TABLE agent_pending_enrollments`);
    await db.query(
      `ALTER TABLE enrollment_tokens DROP COLUMN requires_approval, DROP COLUMN allowed_serials`,
    );
    await db.query(`ALTER TABLE agents DROP COLUMN approval_state`);
  }
}
