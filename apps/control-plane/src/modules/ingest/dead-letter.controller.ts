/** Refused agent messages, as the tenants they claimed to come from may see them. */
import { Controller, Get, HttpStatus, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsUUID } from 'class-validator';
import { AppException, ErrorCode } from '../../common/errors/app-exception.js';
import { NoQuery, PageQuery } from '../../common/pagination.js';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { TenantDb } from '../../database/tenant-db.js';

class ListDeadLettersQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;
}

interface DeadLetterRow {
  id: string;
  claimed_tenant_id: string | null;
  claimed_agent_id: string | null;
  seq: string | null;
  topic: string;
  reason: string;
  detail: string;
  payload_size: number;
  received_at: Date;
}

/** Dead letters are listed newest first; their cursor carries the last (numeric) id of the page. */
function decodeDeadLetterCursor(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,18}$/.test(id)) {
    throw new AppException(ErrorCode.INVALID_CURSOR, HttpStatus.BAD_REQUEST, 'The cursor is not valid');
  }
  return id;
}

@ApiTags('ingest')
@ApiBearerAuth()
@Controller('dead-letters')
export class DeadLetterController {
  constructor(private readonly tenantDb: TenantDb) {}

  @Get()
  @RequirePermission('ingest:read')
  async list(@Auth() auth: Principal, @Query() query: ListDeadLettersQuery) {
    const limit = query.limit ?? 100;
    const before = decodeDeadLetterCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT id, claimed_tenant_id, claimed_agent_id, seq, topic, reason, detail, payload_size, received_at
           FROM dead_letters
          WHERE claimed_tenant_id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR claimed_tenant_id = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4`,
        [tx.tenantIds, query.tenantId ?? null, before, limit + 1],
      )) as DeadLetterRow[];
      const items = rows.slice(0, limit).map((row) => ({
        id: Number(row.id),
        tenantId: row.claimed_tenant_id,
        agentId: row.claimed_agent_id,
        seq: row.seq === null ? null : Number(row.seq),
        topic: row.topic,
        reason: row.reason,
        detail: row.detail,
        payloadSize: row.payload_size,
        receivedAt: row.received_at,
      }));
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: rows.length > limit && last ? Buffer.from(String(last.id)).toString('base64url') : null,
      };
    });
  }

  @Get('summary')
  @RequirePermission('ingest:read')
  summary(@Auth() auth: Principal, @Query() _query: NoQuery) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT reason, count(*)::int AS count FROM dead_letters
          WHERE claimed_tenant_id = ANY($1::uuid[]) GROUP BY reason ORDER BY reason`,
        [tx.tenantIds],
      )) as { reason: string; count: number }[];
      return { byReason: Object.fromEntries(rows.map((row) => [row.reason, row.count])) };
    });
  }
}
