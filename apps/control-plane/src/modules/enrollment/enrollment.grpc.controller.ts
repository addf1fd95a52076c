/** Device-facing: `medfleet.v1.Enrollment` over gRPC: Enroll, PollEnrollment and RenewCertificate. */
import { Controller, Inject, Logger } from '@nestjs/common';
import { GrpcMethod, RpcException } from '@nestjs/microservices';
import { status, type Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import type {
  EnrollRequest,
  EnrollResponse,
  PollEnrollmentRequest,
  RenewCertificateRequest,
  RenewCertificateResponse,
} from '@medfleet/contracts';
import { RateLimiter } from '../../common/rate-limiter.js';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { EnrollmentErrorCode, EnrollmentException } from './enrollment.exception.js';
import { certifiedCaller } from '../pki/mutual-tls.interceptor.js';
import { PkiService } from '../pki/pki.service.js';
import { EnrollmentService } from './enrollment.service.js';

const GRPC_STATUS: Record<EnrollmentErrorCode, status> = {
  [EnrollmentErrorCode.TOKEN_INVALID]: status.UNAUTHENTICATED,
  [EnrollmentErrorCode.TOKEN_EXPIRED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_EXHAUSTED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.TOKEN_REVOKED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.UNSUPPORTED_PROTOCOL_VERSION]: status.FAILED_PRECONDITION,
  [EnrollmentErrorCode.INVALID_FACTS]: status.INVALID_ARGUMENT,
  [EnrollmentErrorCode.BROKER_UNAVAILABLE]: status.UNAVAILABLE,
  [EnrollmentErrorCode.SERIAL_NOT_AUTHORIZED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.CSR_INVALID]: status.INVALID_ARGUMENT,
  [EnrollmentErrorCode.POLL_SECRET_INVALID]: status.UNAUTHENTICATED,
  [EnrollmentErrorCode.ENROLLMENT_REJECTED]: status.PERMISSION_DENIED,
  [EnrollmentErrorCode.AGENT_REVOKED]: status.PERMISSION_DENIED,
};

const logger = new Logger('EnrollmentGrpcController');

function rpcError(error: unknown, fallback: string): RpcException {
  if (error instanceof EnrollmentException) {
    return new RpcException({ code: GRPC_STATUS[error.code], message: error.message });
  }
  logger.error(`${fallback}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return new RpcException({ code: status.INTERNAL, message: fallback });
}

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
    private readonly pki: PkiService,
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
    const address = this.limit(call);
    try {
      return await this.enrollment.enroll(request, { ip: address });
    } catch (error) {
      throw rpcError(error, 'enrollment failed');
    }
  }

  /** Polls share the enrollment rate limit: a poll secret must not be guessable either. */
  @GrpcMethod('Enrollment', 'PollEnrollment')
  async pollEnrollment(
    request: PollEnrollmentRequest,
    _metadata: Metadata,
    call: ServerUnaryCall<PollEnrollmentRequest, EnrollResponse>,
  ): Promise<EnrollResponse> {
    this.limit(call);
    try {
      return await this.enrollment.poll(request);
    } catch (error) {
      throw rpcError(error, 'poll failed');
    }
  }

  /** Over mutual TLS: the interceptor has checked the certificate; it is read here again for its agent. */
  @GrpcMethod('Enrollment', 'RenewCertificate')
  async renewCertificate(
    request: RenewCertificateRequest,
    _metadata: Metadata,
    call: ServerUnaryCall<RenewCertificateRequest, RenewCertificateResponse>,
  ): Promise<RenewCertificateResponse> {
    const caller = await certifiedCaller(this.pki, call);
    if ('refusal' in caller) {
      throw new RpcException({ code: caller.refusal.code, message: caller.refusal.details });
    }
    if (request.agentId !== caller.agent.agentId) {
      throw new RpcException({
        code: status.PERMISSION_DENIED,
        message: 'CERTIFICATE_MISMATCH: the client certificate names another agent',
      });
    }
    try {
      return await this.enrollment.renewCertificate(caller.agent, request);
    } catch (error) {
      throw rpcError(error, 'renewal failed');
    }
  }

  private limit(call: ServerUnaryCall<unknown, unknown>): string {
    const address = peerAddress(call);
    if (!this.limiter.take(address)) {
      throw new RpcException({
        code: status.RESOURCE_EXHAUSTED,
        message: `RATE_LIMITED: too many enrollment attempts; retry in ${this.limiter.retryAfterSeconds(address)} s`,
      });
    }
    return address;
  }
}
