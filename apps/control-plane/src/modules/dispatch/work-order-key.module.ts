import { Module } from '@nestjs/common';
import { WorkOrderKeyService } from './work-order-key.service.js';

@Module({
  providers: [WorkOrderKeyService],
  exports: [WorkOrderKeyService],
})
export class WorkOrderKeyModule {}
