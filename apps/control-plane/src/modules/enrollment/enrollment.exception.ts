/** Why an enrollment was refused; the agent prints the code, the operator reads the message. */
export enum EnrollmentErrorCode {
  TOKEN_INVALID = 'TOKEN_INVALID',
  TOKEN_EXPIRED = 'TOKEN_EXPIRED',
  TOKEN_EXHAUSTED = 'TOKEN_EXHAUSTED',
  TOKEN_REVOKED = 'TOKEN_REVOKED',
  UNSUPPORTED_PROTOCOL_VERSION = 'UNSUPPORTED_PROTOCOL_VERSION',
  INVALID_FACTS = 'INVALID_FACTS',
  BROKER_UNAVAILABLE = 'BROKER_UNAVAILABLE',
}

export class EnrollmentException extends Error {
  constructor(
    readonly code: EnrollmentErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'EnrollmentException';
  }
}
