/** What an agent reported about itself on its `events` stream (recoveries after an unclean shutdown). */
import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { AppException } from '../../common/errors/app-exception.js';
import { PageQuery } from '../../common/pagination.js';
import { TenantDb } from '../../database/tenant-db.js';
import { AgentService } from './agent.service.js';

interface AgentEventRow {
  seq: string;
  type: string;
  occurred_at: Date;
  received_at: Date;
  body: Record<string, unknown>;
}

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentEventController {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly agents: AgentService,
  ) {}

  /** Newest first; the cursor is the seq of the last event of the previous page. */
  @Get(':id/events')
  @RequirePermission('agent:read')
  list(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() query: PageQuery) {
    const limit = query.limit ?? 100;
    const before =
      query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    if (before !== null && !Number.isSafeInteger(before)) throw AppException.invalidCursor();
    return this.tenantDb.run(auth.scope, async (tx) => {
      const agent = await this.agents.find(tx, id);
      if (!agent) throw AppException.notFound('agent', id);
      const rows = (await tx.db.query(
        `SELECT seq, type, occurred_at, received_at, body FROM agent_events
          WHERE tenant_id = $1 AND agent_id = $2 AND ($3::bigint IS NULL OR seq < $3)
          ORDER BY seq DESC LIMIT $4`,
        [agent.tenantId, id, before, limit + 1],
      )) as AgentEventRow[];
      const items = rows.slice(0, limit).map((row) => ({
        seq: Number(row.seq),
        type: row.type,
        occurredAt: row.occurred_at,
        receivedAt: row.received_at,
        body: row.body,
      }));
      const last = items.at(-1);
      return {
        items,
        nextCursor: rows.length > limit && last ? Buffer.from(String(last.seq)).toString('base64url') : null,
      };
    });
  }
}
