/** Agent health and remote configuration: desired config, its acknowledgement, silence alerts. */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

const TENANT_SCOPE = `tenant_id = ANY ((SELECT medfleet_allowed_tenants())::uuid[])`;

export class AgentHealth1764720500000 implements MigrationInterface {
  name = 'AgentHealth1764720500000';

  async up(db: QueryRunner): Promise<void> {
    // The config version the control plane wants and the one the agent last reported applied; 0 is the
    // config the agent enrolled with. Kept on the agent row for the list view and the republish check.
    await db.query(`
      ALTER TABLE agents
        ADD COLUMN desired_config_version integer NOT NULL DEFAULT 0,
        ADD COLUMN applied_config_version integer NOT NULL DEFAULT 0,
        ADD COLUMN last_health_at timestamptz`);

    // Every config version ever set for an agent, with what the agent answered.
    await db.query(`
      CREATE TABLE agent_configs (
        tenant_id uuid NOT NULL,
        agent_id uuid NOT NULL,
        version integer NOT NULL CHECK (version > 0),
        config jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        applied_at timestamptz,
        rejected_at timestamptz,
        rejection_reason text,
        rejection_detail text,
        PRIMARY KEY (tenant_id, agent_id, version),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);

    // One open alert per agent and kind: two control-plane replicas sweeping at once cannot open two.
    await db.query(`
      CREATE TABLE agent_alerts (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        agent_id uuid NOT NULL,
        site_id uuid NOT NULL,
        kind text NOT NULL CHECK (kind IN ('agent_silent')),
        opened_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        last_seen_at timestamptz,
        silence_threshold_sec integer NOT NULL,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
      )`);
    await db.query(
      `CREATE UNIQUE INDEX agent_alerts_one_open ON agent_alerts (tenant_id, agent_id, kind) WHERE resolved_at IS NULL`,
    );
    await db.query(`CREATE INDEX agent_alerts_opened_idx ON agent_alerts (tenant_id, opened_at DESC, id)`);

    for (const table of ['agent_configs', 'agent_alerts']) {
      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(`CREATE POLICY ${table}_tenant_scope ON ${table} USING (${TENANT_SCOPE})`);
    }
    // The silence sweep must find silent agents of every tenant before it can scope itself to one: a
    // transaction that declares itself the sweep (and nothing else sets this) may read the agents' rows;
    // it selects only ids and times, and does all its writes in tenant-scoped transactions.
    for (const table of ['agents', 'agent_alerts']) {
      await db.query(`
        CREATE POLICY ${table}_silence_sweep ON ${table} FOR SELECT
          USING (current_setting('medfleet.silence_sweep', true) = 'on')`);
    }

    await db.query(`GRANT SELECT, INSERT ON agent_configs, agent_alerts TO ${APP_ROLE}`);
    await db.query(
      `GRANT UPDATE (published_at, applied_at, rejected_at, rejection_reason, rejection_detail) ON agent_configs TO ${APP_ROLE}`,
    );
    await db.query(`GRANT UPDATE (resolved_at) ON agent_alerts TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP POLICY agents_silence_sweep ON agents`);
    await db.query(`DROP TABLE agent_alerts`);
    await db.query(`DROP TABLE agent_configs`);
    await db.query(`
      ALTER TABLE agents
        DROP COLUMN desired_config_version, DROP COLUMN applied_config_version, DROP COLUMN last_health_at`);
  }
}
