/** What agents report on their `events` stream beyond seq gaps: recoveries after an unclean shutdown. */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

export class AgentEvents1764720300000 implements MigrationInterface {
  name = 'AgentEvents1764720300000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE agent_events (
        tenant_id uuid NOT NULL,
        agent_id uuid NOT NULL,
        seq bigint NOT NULL,
        type text NOT NULL,
        occurred_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        body jsonb NOT NULL,
        PRIMARY KEY (tenant_id, agent_id, seq),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX agent_events_type_idx ON agent_events (tenant_id, type, occurred_at)`);
    await db.query(`ALTER TABLE agent_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(
      `CREATE POLICY agent_events_tenant_scope ON agent_events USING (tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[]))`,
    );
    await db.query(`GRANT SELECT, INSERT ON agent_events TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE agent_events`);
  }
}
