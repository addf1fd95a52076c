/** One error shape for the whole API: `{ error: { code, message, details } }`, with a stable string code. */
import { HttpStatus } from '@nestjs/common';

export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  ROUTE_NOT_FOUND = 'ROUTE_NOT_FOUND',
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  MALFORMED_JSON = 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  CONFLICT = 'CONFLICT',
  INVALID_CURSOR = 'INVALID_CURSOR',
  INTERNAL = 'INTERNAL',
}

export class AppException extends Error {
  constructor(
    readonly code: ErrorCode | string,
    readonly status: HttpStatus,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppException';
  }

  static notFound(kind: string, id: string): AppException {
    return new AppException(ErrorCode.NOT_FOUND, HttpStatus.NOT_FOUND, `${kind} ${id} not found`, {
      kind,
      id,
    });
  }

  static invalidCursor(): AppException {
    return new AppException(ErrorCode.INVALID_CURSOR, HttpStatus.BAD_REQUEST, 'The cursor is not valid');
  }

  static conflict(message: string, details: Record<string, unknown> = {}): AppException {
    return new AppException(ErrorCode.CONFLICT, HttpStatus.CONFLICT, message, details);
  }
}
