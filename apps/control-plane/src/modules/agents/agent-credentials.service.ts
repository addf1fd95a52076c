/** Verifies an agent's secret (its MQTT password) against the stored hash: authentication, not tenant data. */
import { Injectable } from '@nestjs/common';
import type { AgentAddress } from '@medfleet/contracts';
import { secretMatches } from '../../common/secrets.js';
import { TenantDb } from '../../database/tenant-db.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

@Injectable()
export class AgentCredentialsService {
  constructor(private readonly tenantDb: TenantDb) {}

  async verify(agentId: string, secret: string): Promise<AgentAddress | null> {
    if (!UUID.test(agentId) || secret.length === 0) return null;
    return this.tenantDb.unscoped(async (db) => {
      const rows = (await db.query(
        `SELECT tenant_id, site_id, secret_hash FROM agent_credentials WHERE agent_id = $1 AND revoked_at IS NULL`,
        [agentId],
      )) as { tenant_id: string; site_id: string; secret_hash: Buffer }[];
      const row = rows[0];
      return row && secretMatches(secret, row.secret_hash)
        ? { tenantId: row.tenant_id, siteId: row.site_id, agentId }
        : null;
    });
  }
}
