/** Maps every failure of an HTTP request to the one error shape; never leaks internals on a 500. */
import { ArgumentsHost, Catch, HttpException, HttpStatus, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { QueryFailedError } from 'typeorm';
import { AppException, ErrorCode } from './app-exception.js';

interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.describe(exception);
    if (status >= 500) {
      this.logger.error({ err: exception }, 'request failed');
    }
    response.status(status).json(body);
  }

  private describe(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof AppException) {
      return reply(exception.status, exception.code, exception.message, exception.details);
    }
    // A unique constraint that a service's own check could not see (a rename onto a taken name, or two
    // concurrent creates) is the client's conflict, not a server error. Constraint names stay internal.
    if (exception instanceof QueryFailedError && isUniqueViolation(exception.driverError)) {
      return reply(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'A record with these values already exists');
    }
    // body-parser errors carry a `type`; Nest's Express adapter wraps them as the `cause` of an HttpException.
    const parserType =
      (exception as { type?: unknown })?.type ?? (exception as { cause?: { type?: unknown } })?.cause?.type;
    if (parserType === 'entity.parse.failed') {
      return reply(HttpStatus.BAD_REQUEST, ErrorCode.MALFORMED_JSON, 'The request body is not valid JSON');
    }
    if (parserType === 'entity.too.large') {
      return reply(
        HttpStatus.PAYLOAD_TOO_LARGE,
        ErrorCode.PAYLOAD_TOO_LARGE,
        'The request body is too large',
      );
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const messages =
        typeof response === 'object' && response !== null
          ? (response as { message?: unknown }).message
          : response;
      if (status === HttpStatus.BAD_REQUEST && Array.isArray(messages)) {
        return reply(status, ErrorCode.VALIDATION_FAILED, 'The request is invalid', { problems: messages });
      }
      const code =
        status === HttpStatus.NOT_FOUND
          ? ErrorCode.ROUTE_NOT_FOUND
          : status === HttpStatus.PAYLOAD_TOO_LARGE
            ? ErrorCode.PAYLOAD_TOO_LARGE
            : status === HttpStatus.UNSUPPORTED_MEDIA_TYPE
              ? ErrorCode.UNSUPPORTED_MEDIA_TYPE
              : status < 500
                ? ErrorCode.VALIDATION_FAILED
                : ErrorCode.INTERNAL;
      return reply(
        status,
        code,
        status >= 500
          ? 'Internal error'
          : String(typeof messages === 'string' ? messages : exception.message),
      );
    }
    return reply(HttpStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL, 'Internal error');
  }
}

function reply(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
  return { status, body: { error: { code, message, details } } };
}

/** SQLSTATE 23505 unique_violation, as the pg driver reports it. */
function isUniqueViolation(driverError: unknown): boolean {
  return (driverError as { code?: unknown } | null)?.code === '23505';
}
