// Waiting for approval against a stand-in control plane speaking the contract's Enroll and PollEnrollment:
// the agent saves what it polls with, resumes after an interruption without enrolling again, rides out an
// unreachable server, and stops for good when the enrollment is refused.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_PACKAGE,
  type EnrollRequest,
  type EnrollResponse,
  type PollEnrollmentRequest,
} from '@medfleet/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_OK, EXIT_PENDING, runCli } from './cli.js';
import { enroll } from './enroll.js';
import { IDENTITY_FILE, KEY_FILE, PENDING_FILE, readPending } from './state.js';
import { captureIo, makeIdentity, makeTempDir, removeDirs, validToken } from './testing/fixtures.js';

type PollAnswer = 'pending' | 'approved' | 'unavailable' | 'rejected';

interface StandIn {
  address: string;
  enrolls: EnrollRequest[];
  polls: { request: PollEnrollmentRequest; at: number }[];
  answers: PollAnswer[];
  close(): Promise<void>;
}

const identity = makeIdentity();
const POLL_SECRET = 'poll-secret-0123456789abcdefghijklmnopqrstuvwxyz';

async function standIn(): Promise<StandIn> {
  const definition = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
  const service = definition[`${PROTO_PACKAGE}.Enrollment`] as grpc.ServiceDefinition;
  const state: Omit<StandIn, 'address' | 'close'> = { enrolls: [], polls: [], answers: [] };
  const pending: EnrollResponse = {
    ...identity,
    certificatePem: '',
    mqtt: { ...identity.mqtt, password: '' },
    approvalState: 'pending',
    pollSecret: POLL_SECRET,
    pollAfterSec: 1,
  };
  const server = new grpc.Server();
  server.addService(service, {
    Enroll: (
      call: grpc.ServerUnaryCall<EnrollRequest, EnrollResponse>,
      done: grpc.sendUnaryData<EnrollResponse>,
    ) => {
      state.enrolls.push(call.request);
      done(null, pending);
    },
    PollEnrollment: (
      call: grpc.ServerUnaryCall<PollEnrollmentRequest, EnrollResponse>,
      done: grpc.sendUnaryData<EnrollResponse>,
    ) => {
      state.polls.push({ request: call.request, at: Date.now() });
      if (call.request.pollSecret !== POLL_SECRET) {
        return done({ code: grpc.status.UNAUTHENTICATED, details: 'POLL_SECRET_INVALID: no' });
      }
      const answer = state.answers.shift() ?? 'pending';
      if (answer === 'unavailable') return done({ code: grpc.status.UNAVAILABLE, details: 'busy' });
      if (answer === 'rejected') {
        return done({
          code: grpc.status.PERMISSION_DENIED,
          details: 'ENROLLMENT_REJECTED: a technician said no',
        });
      }
      if (answer === 'pending') return done(null, pending);
      done(null, {
        ...identity,
        mqtt: { ...identity.mqtt, password: 'mqtt-secret' },
        approvalState: 'approved',
      });
    },
    RenewCertificate: (_call: unknown, done: grpc.sendUnaryData<unknown>) =>
      done({ code: grpc.status.UNIMPLEMENTED, details: 'not here' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('localhost:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    ...state,
    address: `localhost:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

let server: StandIn;
let stateDir: string;
const dirs: string[] = [];

beforeEach(async () => {
  server = await standIn();
  stateDir = path.join(await makeTempDir(), 'state');
  dirs.push(path.dirname(stateDir));
});
afterEach(async () => {
  await server.close();
  await removeDirs(dirs);
});

const options = () => ({ server: server.address, token: validToken(), stateDir, insecure: true });

describe('waiting for approval', () => {
  it('saves the pending enrollment (0600) and, with --no-wait, exits 3 without an identity', async () => {
    const { io, output } = captureIo({ MEDFLEET_STATE_DIR: stateDir });
    const code = await runCli(
      ['enroll', '--server', server.address, '--token', validToken(), '--insecure', '--no-wait'],
      io,
    );
    expect(code).toBe(EXIT_PENDING);
    expect(output.out).toContain(`pending approval: agent ${identity.agentId} waits`);
    expect(output.err).toMatch(/ENROLLMENT_PENDING|waits for a technician's approval/);
    expect((await fs.readdir(stateDir)).sort()).toEqual([KEY_FILE, PENDING_FILE].sort());
    expect((await fs.stat(path.join(stateDir, PENDING_FILE))).mode & 0o777).toBe(0o600);
    expect(await readPending(stateDir)).toMatchObject({
      agentId: identity.agentId,
      tenantId: identity.tenantId,
      pollSecret: POLL_SECRET,
      pollAfterSec: 1,
      server: server.address,
      insecure: true,
    });
    expect(server.polls).toHaveLength(0);
  });

  it('resumes polling after an interruption without enrolling again, then stores the identity', async () => {
    await expect(enroll({ ...options(), wait: false })).rejects.toMatchObject({ code: 'ENROLLMENT_PENDING' });
    server.answers.push('pending', 'approved');
    const captured = captureIo({ MEDFLEET_STATE_DIR: stateDir });
    const { output } = captured;
    // Nobody stops this one (the usual test io asks every command to stop at once).
    const io = { ...captured.io, shutdownSignal: () => new Promise<string>(() => undefined) };
    expect(
      await runCli(['enroll', '--server', server.address, '--token', validToken(), '--insecure'], io),
    ).toBe(EXIT_OK);
    expect(output.out).toContain(`enrolled as agent ${identity.agentId}`);
    expect(server.enrolls).toHaveLength(1);
    expect(server.polls).toHaveLength(2);
    expect(server.polls.every((poll) => poll.request.pollSecret === POLL_SECRET)).toBe(true);
    expect((await fs.readdir(stateDir)).sort()).toEqual([IDENTITY_FILE, KEY_FILE].sort());
  }, 20_000);

  it('waits out an unreachable control plane, with growing pauses', async () => {
    server.answers.push('unavailable', 'pending', 'approved');
    const seen: number[] = [];
    const result = await enroll({ ...options(), onPending: (_pending, polls) => seen.push(polls) });
    expect(result.identity.mqtt.password).toBe('mqtt-secret');
    expect(server.polls).toHaveLength(3);
    expect(seen).toEqual([0, 2]);
    const [first, second, third] = server.polls.map((poll) => poll.at) as [number, number, number];
    // 1 s, then 1.5 s, then 2.25 s, each within ±20 %.
    expect(second - first).toBeGreaterThanOrEqual(1.5 * 0.8 * 1000 - 50);
    expect(third - second).toBeGreaterThanOrEqual(2.25 * 0.8 * 1000 - 50);
  }, 20_000);

  it('stops for good when the enrollment is rejected, forgetting the pending state', async () => {
    server.answers.push('rejected');
    await expect(enroll(options())).rejects.toMatchObject({ code: 'ENROLLMENT_REFUSED' });
    expect(await fs.readdir(stateDir)).not.toContain(PENDING_FILE);
    expect(await fs.readdir(stateDir)).not.toContain(IDENTITY_FILE);
  }, 20_000);

  it('run resumes a pending enrollment from its saved state, without bootstrap settings', async () => {
    await expect(enroll({ ...options(), wait: false })).rejects.toMatchObject({ code: 'ENROLLMENT_PENDING' });
    server.answers.push('approved');
    const { io, output } = captureIo({ MEDFLEET_STATE_DIR: stateDir });
    const code = await runCli(['run', '--bootstrap-file', '/dev/null', '--devices', '1'], {
      ...io,
      // Keeps waiting for approval; the run itself then stops at once.
      shutdownSignal: (() => {
        let calls = 0;
        return () => (++calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve('SIGTERM'));
      })(),
    });
    expect(output.out).toContain(`settings from ${path.join(stateDir, PENDING_FILE)}`);
    expect(output.out).toContain(`enrolled as agent ${identity.agentId}`);
    expect(server.enrolls).toHaveLength(1);
    expect(code).toBe(EXIT_OK);
  }, 20_000);

  it('a stop signal ends the wait, keeping the pending state to resume', async () => {
    const stop = new AbortController();
    const waiting = enroll({ ...options(), signal: stop.signal, onPending: () => stop.abort() });
    await expect(waiting).rejects.toMatchObject({ code: 'ENROLLMENT_PENDING' });
    expect(await readPending(stateDir)).toMatchObject({ agentId: identity.agentId });
  });
});
