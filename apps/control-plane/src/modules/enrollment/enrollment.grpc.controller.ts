/** Device-facing: `medfleet.v1.Enrollment/Enroll` over gRPC. */
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod, RpcException } from '@nestjs/microservices';
import { status, type Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import type { EnrollRequest, EnrollResponse } from '@medfleet/contracts';
import { RateLimiter } from '../../common/rate-limiter.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { EnrollmentErrorCode, EnrollmentException } from './enrollment.exception.js';
import { EnrollmentService } from './enrollment.service.js';

const GRPC_STATUS: Record<EnrollmentErrorCode, status> = {
  [EnrollmentErrorCode.TOKEN_INVALID]: status.UNAUTHENTICATED,
  [EnrollmentErrorCode.TOKEN_EXPIRED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_EXHAUSTED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_REVOKED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.UNSUPPORTED_PROTOCOL_VERSION]: status.FAILED_PRECONDITION,
  [EnrollmentErrorCode.INVALID_FACTS]: status.INVALID_ARGUMENT,
  [EnrollmentErrorCode.BROKER_UNAVAILABLE]: status.UNAVAILABLE,
};

/** `ipv4:127.0.0.1:54321` or `ipv6:[::1]:54321` → the address without the port. */
function peerAddress(call: ServerUnaryCall<unknown, unknown> | undefined): string {
  const peer = call?.getPeer() ?? 'unknown';
  return peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '');
}

@Controller()
export class EnrollmentGrpcController {
  /** Enrollment attempts per client address: tokens are secrets, so guessing must be slow. */
  private readonly limiter: RateLimiter;

  constructor(
    private readonly enrollment: EnrollmentService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const perMinute = config.ENROLL_RATE_LIMIT_PER_MINUTE;
    this.limiter = new RateLimiter(perMinute, perMinute / 60);
  }

  @GrpcMethod('Enrollment', 'Enroll')
  async enroll(
    request: EnrollRequest,
    _metadata: Metadata,
    call: ServerUnaryCall<EnrollRequest, EnrollResponse>,
  ): Promise<EnrollResponse> {
    const address = peerAddress(call);
    if (!this.limiter.take(address)) {
      throw new RpcException({
        code: status.RESOURCE_EXHAUSTED,
        message: `RATE_LIMITED: too many enrollment attempts; retry in ${this.limiter.retryAfterSeconds(address)} s`,
      });
    }
    try {
      return await this.enrollment.enroll(request, { ip: address });
    } catch (error) {
      if (error instanceof EnrollmentException) {
        throw new RpcException({ code: GRPC_STATUS[error.code], message: error.message });
      }
      throw new RpcException({ code: status.INTERNAL, message: 'enrollment failed' });
    }
  }
}
