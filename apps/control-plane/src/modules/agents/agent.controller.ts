import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { ListAgentsQuery } from './agent.dto.js';
import { AgentService } from './agent.service.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentController {
  constructor(private readonly agents: AgentService) {}

  @Get()
  @RequirePermission('agent:read')
  list(@Auth() auth: Principal, @Query() query: ListAgentsQuery) {
    return this.agents.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('agent:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.get(auth, id);
  }

  /** Cuts the agent off: credentials refused, messages dead-lettered, embedded-broker connection closed. */
  @Post(':id/revoke')
  @HttpCode(200)
  @RequirePermission('agent:write')
  revoke(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.revoke(auth, id);
  }
}
