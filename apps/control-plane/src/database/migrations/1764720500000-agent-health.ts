/** Agent health and remote configuration: desired config, its acknowledgement, silence alerts. */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AgentHealth1764720500000 implements MigrationInterface {
  name = 'AgentHealth1764720500000';

  async up(_db: QueryRunner): Promise<void> {}

  async down(_db: QueryRunner): Promise<void> {}
}
