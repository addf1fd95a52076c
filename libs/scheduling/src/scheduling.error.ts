/** Why the scheduling library refused its input; callers map the code to their own error shape. */
export const SchedulingErrorCode = {
  INVALID_TIME_ZONE: 'INVALID_TIME_ZONE',
  INVALID_INSTANT: 'INVALID_INSTANT',
  INSTANT_OUT_OF_RANGE: 'INSTANT_OUT_OF_RANGE',
  INVALID_RANGE: 'INVALID_RANGE',
  INVALID_POLICY: 'INVALID_POLICY',
  INVALID_BLACKOUT: 'INVALID_BLACKOUT',
  INVALID_PLAN_OPTIONS: 'INVALID_PLAN_OPTIONS',
} as const;
export type SchedulingErrorCode = (typeof SchedulingErrorCode)[keyof typeof SchedulingErrorCode];

export class SchedulingError extends Error {
  constructor(
    readonly code: SchedulingErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'SchedulingError';
  }
}
