/** Refused agent messages, as the tenants they claimed to come from may see them. */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { TenantDb } from '../../database/tenant-db.js';

class ListDeadLettersQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'Return entries with an id below this one (newest first)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;
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

@ApiTags('ingest')
@ApiBearerAuth()
@Controller('dead-letters')
export class DeadLetterController {
  constructor(private readonly tenantDb: TenantDb) {}

  @Get()
  async list(@Auth() auth: Principal, @Query() query: ListDeadLettersQuery) {
    const limit = query.limit ?? 100;
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = (await tx.db.query(
        `SELECT id, claimed_tenant_id, claimed_agent_id, seq, topic, reason, detail, payload_size, received_at
           FROM dead_letters
          WHERE claimed_tenant_id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR claimed_tenant_id = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4`,
        [tx.tenantIds, query.tenantId ?? null, query.before ?? null, limit + 1],
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
      return { items, nextBefore: rows.length > limit && last ? last.id : null };
    });
  }

  @Get('summary')
  summary(@Auth() auth: Principal) {
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
