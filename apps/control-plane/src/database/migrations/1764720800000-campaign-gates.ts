// Wave gating and the abort threshold, decided by the dispatcher from the jobs in the database: which wave of a
// campaign is released, why a campaign is paused (an operator, a wave's gate, the abort threshold), and the counts
// the threshold starts from again after an operator resumed an aborted campaign. Job history gains the technician
// (a manual procedure confirmed in the API) and the system (a stuck job timed out) as sources.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export const PAUSE_REASON_CODES = ['OPERATOR', 'GATE_FAILED', 'ABORT_THRESHOLD'] as const;

export class CampaignGates1764720800000 implements MigrationInterface {
  name = 'CampaignGates1764720800000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE campaigns
        ADD COLUMN released_wave integer NOT NULL DEFAULT 0 CHECK (released_wave >= 0),
        ADD COLUMN wave_released_at timestamptz,
        ADD COLUMN pause_reason jsonb
          CHECK (pause_reason IS NULL OR pause_reason->>'code' IN (${PAUSE_REASON_CODES.map((code) => `'${code}'`).join(', ')})),
        ADD COLUMN abort_baseline jsonb NOT NULL DEFAULT '{"executed": 0, "failed": 0}'::jsonb`);
    // The dispatcher finds running campaigns across organizations; it reads ids only and decides in a
    // transaction scoped to the campaign's organization.
    await db.query(`
      CREATE POLICY campaigns_dispatch_scan ON campaigns FOR SELECT
        USING (current_setting('medfleet.dispatch_scan', true) = 'on')`);
    await db.query(`ALTER TABLE patch_job_events DROP CONSTRAINT patch_job_events_source_check`);
    await db.query(`
      ALTER TABLE patch_job_events ADD CONSTRAINT patch_job_events_source_check
        CHECK (source IN ('agent', 'dispatcher', 'technician', 'system'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE patch_job_events DROP CONSTRAINT patch_job_events_source_check`);
    await db.query(`
      ALTER TABLE patch_job_events ADD CONSTRAINT patch_job_events_source_check
        CHECK (source IN ('agent', 'dispatcher'))`);
    await db.query(`DROP POLICY campaigns_dispatch_scan ON campaigns`);
    await db.query(`
      ALTER TABLE campaigns DROP COLUMN released_wave, DROP COLUMN wave_released_at, DROP COLUMN pause_reason,
        DROP COLUMN abort_baseline`);
  }
}
