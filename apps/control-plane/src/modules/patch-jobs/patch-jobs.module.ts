import { Module } from '@nestjs/common';
import { DispatchModule } from '../dispatch/dispatch.module.js';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { PatchJobApiRepository } from './patch-job-api.repository.js';
import { PatchJobController } from './patch-job.controller.js';
import { PatchJobService } from './patch-job.service.js';

@Module({
  imports: [DispatchModule, MaintenanceModule],
  controllers: [PatchJobController],
  providers: [PatchJobService, PatchJobApiRepository],
})
export class PatchJobsModule {}
