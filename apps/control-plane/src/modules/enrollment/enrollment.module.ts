import { Module } from '@nestjs/common';
import { PkiModule } from '../pki/pki.module.js';
import { SiteModule } from '../sites/site.module.js';
import { AgentApprovalController } from './agent-approval.controller.js';
import { EnrollmentTokenController } from './enrollment-token.controller.js';
import { EnrollmentGrpcController } from './enrollment.grpc.controller.js';
import { EnrollmentService } from './enrollment.service.js';

@Module({
  imports: [SiteModule, PkiModule],
  controllers: [EnrollmentTokenController, AgentApprovalController, EnrollmentGrpcController],
  providers: [EnrollmentService],
})
export class EnrollmentModule {}
