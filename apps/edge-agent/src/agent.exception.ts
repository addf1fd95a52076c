/** The agent's one error shape: a string code the CLI maps to an exit status, and a message for people. */
export type AgentExceptionCode =
  | 'USAGE'
  | 'NOT_ENROLLED'
  | 'ALREADY_ENROLLED'
  | 'STATE_INVALID'
  | 'STATE_LOCKED'
  | 'OUTBOX_UNAVAILABLE'
  | 'ENROLLMENT_FAILED'
  | 'ENROLLMENT_REFUSED'
  /** Enrolled, but a technician has not approved the agent yet. */
  | 'ENROLLMENT_PENDING';

export class AgentException extends Error {
  constructor(
    readonly code: AgentExceptionCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AgentException';
  }
}
