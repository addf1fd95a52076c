/** Patch orchestration: site maintenance policies, blackouts, campaigns, waves and planned jobs. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Campaigns1764720600000 implements MigrationInterface {
  name = 'Campaigns1764720600000';

  async up(_db: QueryRunner): Promise<void> {}

  async down(_db: QueryRunner): Promise<void> {}
}
