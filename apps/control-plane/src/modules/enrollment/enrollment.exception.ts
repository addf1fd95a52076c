/** Why an enrollment was refused; the agent prints the code, the operator reads the message. */
export enum EnrollmentErrorCode {
  TOKEN_INVALID = 'TOKEN_INVALID',
  TOKEN_EXPIRED = 'TOKEN_EXPIRED',
  TOKEN_EXHAUSTED = 'TOKEN_EXHAUSTED',
  TOKEN_REVOKED = 'TOKEN_REVOKED',
  UNSUPPORTED_PROTOCOL_VERSION = 'UNSUPPORTED_PROTOCOL_VERSION',
  INVALID_FACTS = 'INVALID_FACTS',
  BROKER_UNAVAILABLE = 'BROKER_UNAVAILABLE',
  /** The token lists the serials it may enroll, and this box's is not among them. */
  SERIAL_NOT_AUTHORIZED = 'SERIAL_NOT_AUTHORIZED',
  /** The CSR is not a PKCS#10 request, its key is not accepted, or its signature does not verify. */
  CSR_INVALID = 'CSR_INVALID',
  /** A poll whose agent id, tenant or poll secret does not match a waiting enrollment. */
  POLL_SECRET_INVALID = 'POLL_SECRET_INVALID',
  ENROLLMENT_REJECTED = 'ENROLLMENT_REJECTED',
  AGENT_REVOKED = 'AGENT_REVOKED',
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
