/** Device-facing: `medfleet.v1.Enrollment/Enroll` over gRPC. */
import { Controller } from '@nestjs/common';
import { GrpcMethod, RpcException } from '@nestjs/microservices';
import { status } from '@grpc/grpc-js';
import type { EnrollRequest, EnrollResponse } from '@medfleet/contracts';
import { EnrollmentErrorCode, EnrollmentException } from './enrollment.exception.js';
import { EnrollmentService } from './enrollment.service.js';

const GRPC_STATUS: Record<EnrollmentErrorCode, status> = {
  [EnrollmentErrorCode.TOKEN_INVALID]: status.UNAUTHENTICATED,
  [EnrollmentErrorCode.TOKEN_EXPIRED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_EXHAUSTED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_REVOKED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.UNSUPPORTED_PROTOCOL_VERSION]: status.FAILED_PRECONDITION,
  [EnrollmentErrorCode.INVALID_FACTS]: status.INVALID_ARGUMENT,
};

@Controller()
export class EnrollmentGrpcController {
  constructor(private readonly enrollment: EnrollmentService) {}

  @GrpcMethod('Enrollment', 'Enroll')
  async enroll(request: EnrollRequest): Promise<EnrollResponse> {
    try {
      return await this.enrollment.enroll(request);
    } catch (error) {
      if (error instanceof EnrollmentException) {
        throw new RpcException({ code: GRPC_STATUS[error.code], message: error.message });
      }
      throw new RpcException({ code: status.INTERNAL, message: 'enrollment failed' });
    }
  }
}
