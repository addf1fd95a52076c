/** Maps the scheduling library's refusals to the API's error shape: a 400 with the library's code and details. */
import { HttpStatus } from '@nestjs/common';
import { SchedulingError } from '@medfleet/scheduling';
import { AppException } from '../../common/errors/app-exception.js';

/** Runs pure scheduling code; a SchedulingError becomes a 400 carrying its code (INVALID_POLICY, …). */
export function withSchedulingErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw asAppException(error);
  }
}

export function asAppException(error: unknown): unknown {
  if (error instanceof SchedulingError) {
    return new AppException(error.code, HttpStatus.BAD_REQUEST, error.message, { ...error.details });
  }
  return error;
}
