import { Module } from '@nestjs/common';
import { SiteModule } from '../sites/site.module.js';
import {
  OrganizationBlackoutController,
  SiteBlackoutController,
  SiteMaintenanceController,
} from './maintenance.controller.js';
import { MaintenanceRepository } from './maintenance.repository.js';
import { MaintenanceService } from './maintenance.service.js';

@Module({
  imports: [SiteModule],
  controllers: [SiteMaintenanceController, SiteBlackoutController, OrganizationBlackoutController],
  providers: [MaintenanceService, MaintenanceRepository],
  exports: [MaintenanceService],
})
export class MaintenanceModule {}
