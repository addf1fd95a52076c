import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runCli, USAGE } from './cli.js';
import { captureIo, makeTempDir, removeDirs, validToken } from './testing/fixtures.js';
import { AGENT_VERSION } from './version.js';

const dirs: string[] = [];
afterEach(() => removeDirs(dirs));

describe('medfleet-agent command line', () => {
  it('prints help and version', async () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['enroll', '--help'], ['run', '-h']]) {
      const { io, output } = captureIo();
      expect(await runCli(argv, io)).toBe(EXIT_OK);
      expect(output.out).toBe(USAGE);
    }
    const { io, output } = captureIo();
    expect(await runCli(['--version'], io)).toBe(EXIT_OK);
    expect(output.out).toBe(`${AGENT_VERSION}\n`);
  });

  it.each([
    [[], /Usage: medfleet-agent/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['enroll', '--bogus'], /Unknown option '--bogus'/],
    [['enroll', '--token', validToken()], /enroll needs --server/],
    [['enroll', '--server', 'cp:50051'], /enroll needs --token/],
    [['enroll', '--server', 'cp:50051', '--token'], /--token/],
    [['enroll', '--server', 'http://cp', '--token', validToken()], /--server must be host:port/],
    [['enroll', '--server', 'cp:99999', '--token', validToken()], /--server must be host:port/],
    [['enroll', '--server', 'cp:50051', '--token', 'secret'], /does not look like an enrollment token/],
    [['enroll', 'extra-positional'], /Unexpected argument 'extra-positional'/],
    [['run', '--devices', 'many'], /--devices must be a whole number from 1 to 2000/],
    [['run', '--devices', '0'], /--devices must be a whole number/],
    [['run', '--devices', '2001'], /--devices must be a whole number/],
    [['run', '--simulate-seed', ' '], /--simulate-seed must not be empty/],
    [['run', '--state-dir'], /--state-dir/],
  ])('refuses %j with a usage error', async (argv, message) => {
    const { io, output } = captureIo({ MEDFLEET_STATE_DIR: '/nonexistent/medfleet' });
    expect(await runCli(argv, io)).toBe(EXIT_USAGE);
    expect(output.err).toMatch(message);
    expect(output.out).toBe('');
  });

  it('refuses a log level it does not know', async () => {
    const { io, output } = captureIo({ MEDFLEET_LOG_LEVEL: 'loud' });
    expect(await runCli(['run', '--state-dir', '/nonexistent/medfleet'], io)).toBe(EXIT_USAGE);
    expect(output.err).toMatch(/MEDFLEET_LOG_LEVEL/);
  });

  it('says so when run before enrollment, with the state directory from the environment', async () => {
    const stateDir = await makeTempDir();
    dirs.push(stateDir);
    const { io, output } = captureIo({ MEDFLEET_STATE_DIR: stateDir });
    expect(await runCli(['run'], io)).toBe(EXIT_FAILURE);
    expect(output.err).toContain(`not enrolled: ${path.join(stateDir, 'identity.json')} does not exist`);
    expect(await fs.readdir(stateDir)).toEqual([]);
  });

  it('reports an unreachable server as a failure, not a crash', async () => {
    const stateDir = await makeTempDir();
    dirs.push(stateDir);
    const { io, output } = captureIo({
      MEDFLEET_SERVER: '127.0.0.1:1',
      MEDFLEET_ENROLLMENT_TOKEN: validToken(),
    });
    expect(await runCli(['enroll', '--state-dir', stateDir, '--insecure'], io)).toBe(EXIT_FAILURE);
    expect(output.err).toMatch(/enrollment with 127\.0\.0\.1:1 failed: UNAVAILABLE/);
  });
});
