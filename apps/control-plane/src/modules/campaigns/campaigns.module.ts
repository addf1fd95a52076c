import { Module } from '@nestjs/common';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { TenantModule } from '../tenants/tenant.module.js';
import { CampaignApprovalDelegationController, CampaignController } from './campaign.controller.js';
import { CampaignRepository } from './campaign.repository.js';
import { CampaignService } from './campaign.service.js';
import { PatchJobRepository } from './patch-job.repository.js';

@Module({
  imports: [TenantModule, MaintenanceModule],
  controllers: [CampaignController, CampaignApprovalDelegationController],
  providers: [CampaignService, CampaignRepository, PatchJobRepository],
})
export class CampaignsModule {}
