/**
 * Enrollment: trades a site-scoped token for the agent's identity over gRPC `medfleet.v1.Enrollment/Enroll`
 * and stores it in the state directory.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_PACKAGE,
  PROTOCOL_VERSION,
  parseEnrollmentToken,
  type AgentFacts,
  type EnrollRequest,
  type EnrollResponse,
} from '@medfleet/contracts';
import { AgentException } from './agent.exception.js';
import { collectFacts } from './facts.js';
import {
  ensureStateDir,
  lockStateDir,
  parseIdentity,
  readIdentity,
  saveIdentity,
  type AgentIdentity,
} from './state.js';

export interface EnrollOptions {
  /** `host:port` of the control plane's gRPC endpoint. */
  server: string;
  token: string;
  stateDir: string;
  /** Plaintext gRPC instead of TLS: for development and for control planes without TLS yet. */
  insecure: boolean;
  /** Replace an existing identity. */
  force?: boolean;
  deadlineMs?: number;
  /** Defaults to the facts of this box. */
  facts?: AgentFacts;
}

export interface EnrollResult {
  identity: AgentIdentity;
  identityFile: string;
  /** Permission bits of a pre-existing state directory that others can read or enter. */
  looseStateDirMode?: number;
}

const SERVER_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export function isServerAddress(server: string): boolean {
  return SERVER_ADDRESS.test(server) && Number(server.slice(server.lastIndexOf(':') + 1)) <= 65535;
}

export async function enroll(options: EnrollOptions): Promise<EnrollResult> {
  if (!isServerAddress(options.server)) {
    throw new AgentException('USAGE', `--server must be host:port, got ${JSON.stringify(options.server)}`);
  }
  if (!parseEnrollmentToken(options.token)) {
    throw new AgentException(
      'USAGE',
      'the token does not look like an enrollment token (mfe_<tenantId>_<secret>)',
    );
  }
  const stateDir = await ensureStateDir(options.stateDir);
  // Not while an agent runs on this directory: it would keep using the identity being replaced.
  const lock = await lockStateDir(options.stateDir);
  try {
    const existing = await readIdentity(options.stateDir);
    if (existing && !options.force) {
      throw new AgentException(
        'ALREADY_ENROLLED',
        `already enrolled as agent ${existing.agentId} with ${existing.server} (since ${existing.enrolledAt}); ` +
          'pass --force to enroll again',
        { agentId: existing.agentId },
      );
    }
    const request: EnrollRequest = {
      token: options.token,
      csrPem: '',
      facts: options.facts ?? (await collectFacts()),
      protocolVersion: PROTOCOL_VERSION,
    };
    const response = await callEnroll(
      options.server,
      request,
      options.insecure,
      options.deadlineMs ?? 15_000,
    );
    let identity: AgentIdentity;
    try {
      identity = parseIdentity(
        { ...response, server: options.server, enrolledAt: new Date().toISOString() },
        'the enrollment response',
      );
    } catch (error) {
      throw new AgentException(
        'ENROLLMENT_FAILED',
        `${options.server} answered with an unusable identity: ${(error as Error).message}`,
      );
    }
    const identityFile = await saveIdentity(options.stateDir, identity);
    return {
      identity,
      identityFile,
      ...(!stateDir.created && stateDir.mode & 0o077 ? { looseStateDirMode: stateDir.mode } : {}),
    };
  } finally {
    await lock.release();
  }
}

let enrollMethod: grpc.MethodDefinition<EnrollRequest, EnrollResponse> | undefined;

function enrollMethodDefinition(): grpc.MethodDefinition<EnrollRequest, EnrollResponse> {
  if (!enrollMethod) {
    const definition = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
    const service = definition[`${PROTO_PACKAGE}.Enrollment`] as protoLoader.ServiceDefinition | undefined;
    const method = service?.['Enroll'];
    if (!method)
      throw new Error(`${PROTO_PACKAGE}.Enrollment/Enroll is missing from the contract's .proto files`);
    enrollMethod = method as grpc.MethodDefinition<EnrollRequest, EnrollResponse>;
  }
  return enrollMethod;
}

function callEnroll(
  server: string,
  request: EnrollRequest,
  insecure: boolean,
  deadlineMs: number,
): Promise<EnrollResponse> {
  const method = enrollMethodDefinition();
  const credentials = insecure ? grpc.credentials.createInsecure() : grpc.credentials.createSsl();
  const client = new grpc.Client(server, credentials);
  return new Promise<EnrollResponse>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error, response) => {
        client.close();
        if (error) reject(enrollmentError(server, error, insecure));
        else if (!response)
          reject(new AgentException('ENROLLMENT_FAILED', `${server} sent an empty response`));
        else resolve(response);
      },
    );
  });
}

function enrollmentError(server: string, error: grpc.ServiceError, insecure: boolean): AgentException {
  const status = grpc.status[error.code] ?? String(error.code);
  const details = { grpcStatus: status, grpcMessage: error.details };
  // The server answered and said no (bad or expired token, unknown protocol version, ...).
  const refused = [
    grpc.status.PERMISSION_DENIED,
    grpc.status.UNAUTHENTICATED,
    grpc.status.INVALID_ARGUMENT,
    grpc.status.FAILED_PRECONDITION,
    grpc.status.NOT_FOUND,
    grpc.status.RESOURCE_EXHAUSTED,
  ].includes(error.code);
  if (refused) {
    return new AgentException(
      'ENROLLMENT_REFUSED',
      `enrollment refused by ${server}: ${status}: ${error.details}`,
      details,
    );
  }
  const hint =
    error.code === grpc.status.UNAVAILABLE && !insecure
      ? ' (if the server speaks plaintext gRPC, pass --insecure)'
      : '';
  return new AgentException(
    'ENROLLMENT_FAILED',
    `enrollment with ${server} failed: ${status}: ${error.details}${hint}`,
    details,
  );
}
