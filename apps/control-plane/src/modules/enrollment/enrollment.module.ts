import { Module } from '@nestjs/common';
import { SiteModule } from '../sites/site.module.js';
import { EnrollmentTokenController } from './enrollment-token.controller.js';
import { EnrollmentGrpcController } from './enrollment.grpc.controller.js';
import { EnrollmentService } from './enrollment.service.js';

@Module({
  imports: [SiteModule],
  controllers: [EnrollmentTokenController, EnrollmentGrpcController],
  providers: [EnrollmentService],
})
export class EnrollmentModule {}
