/**
 * Enrollment: makes the agent's key pair, trades a site-scoped token and a CSR for the agent's identity over
 * gRPC `medfleet.v1.Enrollment/Enroll`, waits while a technician has to approve it, and stores the identity
 * in the state directory.
 */
import path from 'node:path';
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
  type PollEnrollmentRequest,
} from '@medfleet/contracts';
import { AgentException } from './agent.exception.js';
import { collectFacts } from './facts.js';
import { createCsrPem, generatePrivateKeyPem } from './pki.js';
import {
  KEY_FILE,
  ensureStateDir,
  lockStateDir,
  parseIdentity,
  readIdentity,
  readPending,
  removePending,
  saveIdentity,
  savePending,
  savePrivateKey,
  type AgentIdentity,
  type PendingEnrollment,
} from './state.js';

export interface EnrollOptions {
  /** `host:port` of the control plane's gRPC endpoint. */
  server: string;
  token: string;
  stateDir: string;
  /** Plaintext gRPC instead of TLS: for development and for control planes without TLS yet. */
  insecure: boolean;
  /** PEM CA certificates to trust for the server (a private CA); the system roots otherwise. */
  trustedCaPem?: string;
  /** Replace an existing identity. */
  force?: boolean;
  deadlineMs?: number;
  /** Defaults to the facts of this box. */
  facts?: AgentFacts;
  /** While pending approval: wait and poll (default), or return at once with the pending state saved. */
  wait?: boolean;
  /** Longest pause between two polls (default 5 minutes); the server's suggestion is the shortest. */
  maxPollIntervalMs?: number;
  /** Called once when the control plane answers "pending", and again each time a poll still says so. */
  onPending?(pending: PendingEnrollment, polls: number): void;
  /** Aborting stops the wait for approval (the pending state stays saved, to resume later). */
  signal?: AbortSignal;
}

export interface EnrollResult {
  identity: AgentIdentity;
  identityFile: string;
  keyFile: string;
  /** Permission bits of a pre-existing state directory that others can read or enter. */
  looseStateDirMode?: number;
}

const SERVER_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export function isServerAddress(server: string): boolean {
  return SERVER_ADDRESS.test(server) && Number(server.slice(server.lastIndexOf(':') + 1)) <= 65535;
}

/** Codes with which the control plane ends a pending enrollment for good. */
const FINAL_POLL_REFUSALS = ['POLL_SECRET_INVALID', 'ENROLLMENT_REJECTED', 'AGENT_REVOKED'];

export async function enroll(options: EnrollOptions): Promise<EnrollResult> {
  if (!isServerAddress(options.server)) {
    throw new AgentException('USAGE', `--server must be host:port, got ${JSON.stringify(options.server)}`);
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
    const loose = !stateDir.created && stateDir.mode & 0o077 ? { looseStateDirMode: stateDir.mode } : {};
    const keyFile = path.join(options.stateDir, KEY_FILE);
    // An enrollment already waiting for approval is resumed with its own key, not started again.
    let pending = options.force ? undefined : await readPending(options.stateDir);
    let response: EnrollResponse;
    if (pending) {
      response = await waitForApproval(pending, options);
    } else {
      if (!parseEnrollmentToken(options.token)) {
        throw new AgentException(
          'USAGE',
          'the token does not look like an enrollment token (mfe_<tenantId>_<secret>)',
        );
      }
      await removePending(options.stateDir);
      // The key is made and stored (0600) before anything is sent: the CSR carries only its public half.
      const privateKeyPem = generatePrivateKeyPem();
      await savePrivateKey(options.stateDir, privateKeyPem);
      const facts = options.facts ?? (await collectFacts());
      const request: EnrollRequest = {
        token: options.token,
        csrPem: createCsrPem(privateKeyPem, `medfleet-agent ${facts.hostname}`.slice(0, 64)),
        facts,
        protocolVersion: PROTOCOL_VERSION,
      };
      response = await callUnary<EnrollRequest, EnrollResponse>(options, 'Enroll', request);
      if (response.approvalState === 'pending') {
        pending = {
          agentId: response.agentId,
          tenantId: response.tenantId,
          siteId: response.siteId,
          pollSecret: response.pollSecret ?? '',
          pollAfterSec: response.pollAfterSec ?? 30,
          server: options.server,
          insecure: options.insecure,
          ...(options.trustedCaPem ? { trustedCaPem: options.trustedCaPem } : {}),
          since: new Date().toISOString(),
        };
        await savePending(options.stateDir, pending);
        options.onPending?.(pending, 0);
        if (options.wait === false) throw pendingException(pending);
        response = await waitForApproval(pending, options);
      }
    }
    if (response.approvalState === 'pending' && pending) throw pendingException(pending);
    let identity: AgentIdentity;
    try {
      const { approvalState: _state, pollSecret: _secret, pollAfterSec: _after, ...answer } = response;
      identity = parseIdentity(
        {
          ...answer,
          server: options.server,
          enrolledAt: new Date().toISOString(),
          ...(options.trustedCaPem ? { trustedCaPem: options.trustedCaPem } : {}),
        },
        'the enrollment response',
      );
    } catch (error) {
      throw new AgentException(
        'ENROLLMENT_FAILED',
        `${options.server} answered with an unusable identity: ${(error as Error).message}`,
      );
    }
    const identityFile = await saveIdentity(options.stateDir, identity);
    await removePending(options.stateDir);
    return { identity, identityFile, keyFile, ...loose };
  } finally {
    await lock.release();
  }
}

/**
 * Polls until a technician decides: the server's interval first, then longer pauses (x1.5 each, up to
 * `maxPollIntervalMs`, with jitter so a site's worth of agents does not poll in step). A lost connection
 * is waited out like a "still pending"; a refusal ends it.
 */
async function waitForApproval(pending: PendingEnrollment, options: EnrollOptions): Promise<EnrollResponse> {
  const connection = {
    server: pending.server,
    insecure: pending.insecure,
    ...(pending.trustedCaPem ? { trustedCaPem: pending.trustedCaPem } : {}),
    ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
  };
  const base = Math.max(1, pending.pollAfterSec) * 1000;
  const max = Math.max(base, options.maxPollIntervalMs ?? 300_000);
  for (let polls = 1; ; polls += 1) {
    const pause = Math.min(max, base * 1.5 ** (polls - 1)) * (0.8 + Math.random() * 0.4);
    if (!(await sleep(pause, options.signal))) return { ...placeholder(pending), approvalState: 'pending' };
    try {
      const answer = await callUnary<PollEnrollmentRequest, EnrollResponse>(connection, 'PollEnrollment', {
        agentId: pending.agentId,
        tenantId: pending.tenantId,
        pollSecret: pending.pollSecret,
        protocolVersion: PROTOCOL_VERSION,
      });
      if (answer.approvalState !== 'pending') return answer;
      options.onPending?.(pending, polls);
    } catch (error) {
      const refused =
        error instanceof AgentException &&
        error.code === 'ENROLLMENT_REFUSED' &&
        FINAL_POLL_REFUSALS.some((code) => String(error.details['grpcMessage'] ?? '').startsWith(code));
      if (refused) {
        await removePending(options.stateDir);
        throw error;
      }
      if (!(error instanceof AgentException) || error.code !== 'ENROLLMENT_FAILED') throw error;
      // Unreachable or unavailable: keep waiting, the next pause is longer.
    }
  }
}

function pendingException(pending: PendingEnrollment): AgentException {
  return new AgentException(
    'ENROLLMENT_PENDING',
    `agent ${pending.agentId} waits for a technician's approval (since ${pending.since}); ` +
      'run enroll (or run) again to keep waiting',
    { agentId: pending.agentId },
  );
}

function placeholder(pending: PendingEnrollment): EnrollResponse {
  return {
    agentId: pending.agentId,
    organizationId: '',
    tenantId: pending.tenantId,
    siteId: pending.siteId,
    certificatePem: '',
    caChainPem: [],
    mqtt: { url: '', clientId: '', username: '', password: '', topicPrefix: '', protocolVersion: 5 },
    config: { inventoryIntervalSec: 0, healthIntervalSec: 0 },
    siteTimeZone: '',
  };
}

/** Resolves true after `ms`, or false at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const methods = new Map<string, grpc.MethodDefinition<unknown, unknown>>();

/** A method of `medfleet.v1.Enrollment`, from the contract's .proto files. */
export function enrollmentMethod<Req, Res>(name: string): grpc.MethodDefinition<Req, Res> {
  let method = methods.get(name);
  if (!method) {
    const definition = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
    const service = definition[`${PROTO_PACKAGE}.Enrollment`] as protoLoader.ServiceDefinition | undefined;
    const found = service?.[name];
    if (!found)
      throw new Error(`${PROTO_PACKAGE}.Enrollment/${name} is missing from the contract's .proto files`);
    method = found as grpc.MethodDefinition<unknown, unknown>;
    methods.set(name, method);
  }
  return method as grpc.MethodDefinition<Req, Res>;
}

export interface Connection {
  server: string;
  insecure: boolean;
  trustedCaPem?: string;
  /** Mutual TLS: the agent's key and its certificate chain (PEM). */
  clientKeyPem?: string;
  clientCertificateChainPem?: string;
  deadlineMs?: number;
}

export function channelCredentials(connection: Connection): grpc.ChannelCredentials {
  if (connection.insecure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    connection.trustedCaPem ? Buffer.from(connection.trustedCaPem) : null,
    connection.clientKeyPem ? Buffer.from(connection.clientKeyPem) : null,
    connection.clientCertificateChainPem ? Buffer.from(connection.clientCertificateChainPem) : null,
  );
}

export function callUnary<Req, Res>(connection: Connection, name: string, request: Req): Promise<Res> {
  const method = enrollmentMethod<Req, Res>(name);
  const client = new grpc.Client(connection.server, channelCredentials(connection));
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + (connection.deadlineMs ?? 15_000) },
      (error, response) => {
        client.close();
        if (error) reject(enrollmentError(connection.server, error, connection.insecure));
        else if (!response)
          reject(new AgentException('ENROLLMENT_FAILED', `${connection.server} sent an empty response`));
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
