import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsObject, IsOptional, Max, Min } from 'class-validator';
import { COLLECTOR_NAMES, MAX_INTERVAL_SEC } from '@medfleet/contracts';
import { TenantSiteQuery } from '../../common/pagination.js';

/**
 * What the API shows: `pending` and `rejected` while (or because) an enrollment needed approval,
 * `revoked` once cut off, `never_seen` before its first message, then `online` or `offline` by how long
 * it has been silent against its health interval.
 */
export const AGENT_STATUSES = ['online', 'offline', 'never_seen', 'pending', 'rejected', 'revoked'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export class ListAgentsQuery extends TenantSiteQuery {
  @ApiPropertyOptional({ enum: AGENT_STATUSES })
  @IsOptional()
  @IsIn(AGENT_STATUSES)
  status?: AgentStatus;
}

/**
 * The desired config of one agent (PUT replaces it whole). The maintenance policy's time zone is always the
 * site's; its windows default to every day 22:00–05:00. Nested parts are checked against the wire contract
 * (`agentConfigSchema`), so the API refuses exactly what an agent would.
 */
export class UpdateAgentConfigDto {
  @ApiProperty({ minimum: 1, maximum: MAX_INTERVAL_SEC, example: 300 })
  @IsInt()
  @Min(1)
  @Max(MAX_INTERVAL_SEC)
  inventoryIntervalSec!: number;

  @ApiProperty({ minimum: 1, maximum: MAX_INTERVAL_SEC, example: 60 })
  @IsInt()
  @Min(1)
  @Max(MAX_INTERVAL_SEC)
  healthIntervalSec!: number;

  @ApiPropertyOptional({
    description: `Collectors by name (${COLLECTOR_NAMES.join(', ')}); default: inventory on, the others off`,
    example: { inventory: { enabled: true } },
  })
  @IsOptional()
  @IsObject()
  collectors?: Record<string, unknown>;

  @ApiPropertyOptional({
    description: "The site's maintenance windows in its time zone; default every day 22:00–05:00",
    example: {
      windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '05:00' }],
    },
  })
  @IsOptional()
  @IsObject()
  maintenance?: Record<string, unknown>;
}
