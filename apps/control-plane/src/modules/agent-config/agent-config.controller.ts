/** An agent's remote configuration: what the control plane wants it to run, and what it answered. */
import { Body, Controller, Get, Param, ParseUUIDPipe, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { UpdateAgentConfigDto } from '../agents/agent.dto.js';
import { AgentConfigService } from './agent-config.service.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentConfigController {
  constructor(private readonly configs: AgentConfigService) {}

  @Get(':id/config')
  @RequirePermission('agent:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.configs.get(auth, id);
  }

  /** Sets the next config version; it goes out on the agent's `cmd/config` at once. */
  @Put(':id/config')
  @RequirePermission('agent:write')
  set(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateAgentConfigDto) {
    return this.configs.set(auth, id, dto);
  }
}
