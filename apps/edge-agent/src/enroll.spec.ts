import fs from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PROTOCOL_VERSION, type EnrollResponse } from '@medfleet/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, runCli } from './cli.js';
import { enroll } from './enroll.js';
import { IDENTITY_FILE, KEY_FILE, loadIdentity } from './state.js';
import {
  startEnrollmentServer,
  type EnrollHandler,
  type EnrollmentServer,
} from './testing/enrollment-server.js';
import { captureIo, makeIdentity, makeTempDir, removeDirs, validToken } from './testing/fixtures.js';
import { AGENT_VERSION } from './version.js';

function enrollResponse(): EnrollResponse {
  const {
    server: _server,
    enrolledAt: _enrolledAt,
    ...response
  } = makeIdentity({
    config: { inventoryIntervalSec: 300, healthIntervalSec: 30 },
  });
  return { ...response, mqtt: { ...response.mqtt, username: response.agentId, password: 'p4ss-w0rd' } };
}

let answer: EnrollHandler;
let server: EnrollmentServer;
let stateDir: string;
const dirs: string[] = [];

beforeEach(async () => {
  const response = enrollResponse();
  answer = () => response;
  server = await startEnrollmentServer((request) => answer(request));
  stateDir = path.join(await makeTempDir(), 'state');
  dirs.push(path.dirname(stateDir));
});
afterEach(async () => {
  await server.close();
  await removeDirs(dirs);
});

describe('enroll', () => {
  it('sends token, protocol version and facts, and stores the identity owner-only', async () => {
    const response = enrollResponse();
    answer = () => response;
    const token = validToken();
    const { io, output } = captureIo({ MEDFLEET_ENROLLMENT_TOKEN: token, MEDFLEET_STATE_DIR: stateDir });
    const code = await runCli(['enroll', '--server', server.address, '--insecure'], io);
    expect(output.err).toContain('plaintext');
    expect(code).toBe(EXIT_OK);
    expect(output.out).toContain(`enrolled as agent ${response.agentId}`);

    const [request] = server.requests;
    expect(request).toMatchObject({
      token,
      csrPem: expect.stringMatching(/^-----BEGIN CERTIFICATE REQUEST-----\n/),
      protocolVersion: PROTOCOL_VERSION,
    });
    expect(request?.facts).toMatchObject({ agentVersion: AGENT_VERSION, arch: process.arch });
    expect(request?.facts.hostname).not.toBe('');
    expect(request?.facts.serial).not.toBe('');

    const file = path.join(stateDir, IDENTITY_FILE);
    expect((await fs.stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ ...response, server: server.address });
    expect(Date.parse(stored['enrolledAt'] as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(await loadIdentity(stateDir)).toMatchObject(response);
    expect((await fs.readdir(stateDir)).sort()).toEqual([KEY_FILE, IDENTITY_FILE].sort());
    // The private key stays on the box, owner-only; the CSR sent carries only its public half.
    const key = await fs.readFile(path.join(stateDir, KEY_FILE), 'utf8');
    expect((await fs.stat(path.join(stateDir, KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(request?.csrPem).not.toContain(key.split('\n')[1]);
  });

  it('refuses to enroll twice unless forced', async () => {
    const first = await enroll({ server: server.address, token: validToken(), stateDir, insecure: true });
    const second = enrollResponse();
    answer = () => second;

    const { io, output } = captureIo();
    const argv = [
      'enroll',
      '--server',
      server.address,
      '--token',
      validToken(),
      '--state-dir',
      stateDir,
      '--insecure',
    ];
    expect(await runCli(argv, io)).toBe(EXIT_FAILURE);
    expect(output.err).toContain(`already enrolled as agent ${first.identity.agentId}`);
    expect(output.err).toContain('--force');
    expect(server.requests).toHaveLength(1);

    expect(await runCli([...argv, '--force'], captureIo().io)).toBe(EXIT_OK);
    expect((await loadIdentity(stateDir)).agentId).toBe(second.agentId);
  });

  it('prints the server refusal and exits non-zero, writing nothing', async () => {
    answer = () => ({
      code: grpc.status.PERMISSION_DENIED,
      details: 'TOKEN_EXPIRED: the enrollment token expired',
    });
    const { io, output } = captureIo();
    const code = await runCli(
      ['enroll', '--server', server.address, '--token', validToken(), '--state-dir', stateDir, '--insecure'],
      io,
    );
    expect(code).toBe(EXIT_FAILURE);
    expect(output.err).toContain(
      `enrollment refused by ${server.address}: PERMISSION_DENIED: TOKEN_EXPIRED: the enrollment token expired`,
    );
    expect(output.out).toBe('');
    await expect(fs.access(path.join(stateDir, IDENTITY_FILE))).rejects.toThrow();
  });

  it('refuses an identity it could not use', async () => {
    answer = () => ({ ...enrollResponse(), agentId: 'agent-7' });
    const error = await enroll({
      server: server.address,
      token: validToken(),
      stateDir,
      insecure: true,
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ENROLLMENT_FAILED', message: expect.stringContaining('agentId') });
    await expect(fs.access(path.join(stateDir, IDENTITY_FILE))).rejects.toThrow();
  });

  it('uses TLS unless told otherwise, and hints at --insecure when that fails', async () => {
    const error = await enroll({
      server: server.address,
      token: validToken(),
      stateDir,
      insecure: false,
      deadlineMs: 5_000,
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'ENROLLMENT_FAILED',
      message: expect.stringContaining('--insecure'),
    });
    expect(server.requests).toHaveLength(0);
  });

  it('reads a protocol version of 4 for brokers without MQTT 5', async () => {
    const response = enrollResponse();
    answer = () => ({ ...response, mqtt: { ...response.mqtt, protocolVersion: 4 } });
    const { identity } = await enroll({
      server: server.address,
      token: validToken(),
      stateDir,
      insecure: true,
    });
    expect(identity.mqtt.protocolVersion).toBe(4);
  });
});
