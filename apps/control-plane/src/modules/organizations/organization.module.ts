import { Module } from '@nestjs/common';
import { ApiKeyService } from './api-key.service.js';
import { OrganizationController } from './organization.controller.js';
import { OrganizationService } from './organization.service.js';

@Module({
  controllers: [OrganizationController],
  providers: [OrganizationService, ApiKeyService],
  exports: [OrganizationService, ApiKeyService],
})
export class OrganizationModule {}
