import { Module } from '@nestjs/common';
import { AgentConfigModule } from '../agent-config/agent-config.module.js';
import { IngestModule } from '../ingest/ingest.module.js';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { CampaignGateRepository } from './campaign-gate.repository.js';
import { DispatchClock } from './dispatch-clock.js';
import { DispatchRepository } from './dispatch.repository.js';
import { PatchDispatcher } from './patch-dispatch.job.js';
import { WorkOrderKeyModule } from './work-order-key.module.js';

@Module({
  imports: [IngestModule, AgentConfigModule, MaintenanceModule, WorkOrderKeyModule],
  providers: [DispatchClock, DispatchRepository, CampaignGateRepository, PatchDispatcher],
  exports: [DispatchClock, DispatchRepository, PatchDispatcher],
})
export class DispatchModule {}
