import { Module } from '@nestjs/common';
import { AgentModule } from '../agents/agent.module.js';
import { IngestModule } from '../ingest/ingest.module.js';
import { WorkOrderKeyModule } from '../dispatch/work-order-key.module.js';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { AgentConfigController } from './agent-config.controller.js';
import { AgentConfigService } from './agent-config.service.js';

@Module({
  imports: [AgentModule, IngestModule, WorkOrderKeyModule, MaintenanceModule],
  controllers: [AgentConfigController],
  providers: [AgentConfigService],
  exports: [AgentConfigService],
})
export class AgentConfigModule {}
