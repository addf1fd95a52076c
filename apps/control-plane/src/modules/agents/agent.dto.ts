import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { TenantSiteQuery } from '../../common/pagination.js';

export const AGENT_STATUSES = ['online', 'offline', 'never_seen', 'revoked'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export class ListAgentsQuery extends TenantSiteQuery {
  @ApiPropertyOptional({ enum: AGENT_STATUSES })
  @IsOptional()
  @IsIn(AGENT_STATUSES)
  status?: AgentStatus;
}
