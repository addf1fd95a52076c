import { Module } from '@nestjs/common';
import { PatchJobApiRepository } from './patch-job-api.repository.js';
import { PatchJobController } from './patch-job.controller.js';
import { PatchJobService } from './patch-job.service.js';

@Module({
  controllers: [PatchJobController],
  providers: [PatchJobService, PatchJobApiRepository],
})
export class PatchJobsModule {}
