/** Agent identity: approval of enrollments, pre-authorized serials, the organization CA and agent certificates. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AgentIdentity1764720400000 implements MigrationInterface {
  name = 'AgentIdentity1764720400000';

  async up(db: QueryRunner): Promise<void> {
    // An agent enrolled with a token that requires approval waits as 'pending' until a technician accepts it.
    await db.query(`
      ALTER TABLE agents ADD COLUMN approval_state text NOT NULL DEFAULT 'approved'
        CHECK (approval_state IN ('pending', 'approved', 'rejected'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE agents DROP COLUMN approval_state`);
  }
}
