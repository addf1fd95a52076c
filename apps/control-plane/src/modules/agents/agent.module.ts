import { Module } from '@nestjs/common';
import { AgentConfigRepository } from './agent-config.repository.js';
import { AgentCredentialsService } from './agent-credentials.service.js';
import { AgentController } from './agent.controller.js';
import { AgentEventController } from './agent-event.controller.js';
import { AgentService } from './agent.service.js';

@Module({
  controllers: [AgentController, AgentEventController],
  providers: [AgentService, AgentCredentialsService, AgentConfigRepository],
  exports: [AgentService, AgentCredentialsService, AgentConfigRepository],
})
export class AgentModule {}
