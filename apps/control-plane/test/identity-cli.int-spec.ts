// The operator's way in: `create-user` makes an organization's first MSP administrator (password from
// stdin, never the command line), `configure-oidc` its single sign-on; the administrator then signs in
// over HTTP and must enroll TOTP.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type AppConfig } from '../src/config/app-config.js';
import { freePort } from '../src/infra/embedded-postgres.js';
import { createLogger } from '../src/infra/logger.js';
import { runIdentityCommand, type IdentityCommandValues } from '../src/modules/identity/identity.cli.js';
import { ApiClient } from './support/api-client.js';
import { createTestDatabase, realBroker, type TestDatabase } from './support/test-env.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';

let database: TestDatabase;
let dataDir: string;
let config: AppConfig;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-cli-'));
  config = loadConfig({
    PORT: String(await freePort()),
    GRPC_PORT: String(await freePort()),
    GRPC_TLS_PORT: String(await freePort()),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    OIDC_ALLOW_HTTP_ISSUERS: 'true',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(realBroker ? { MQTT_URL: realBroker } : {}),
  });
});

afterAll(async () => {
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function run(command: 'create-user' | 'configure-oidc', values: IdentityCommandValues, stdin = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runIdentityCommand(command, config, createLogger('warn'), values, {
    stdin: Readable.from([stdin]),
    stdout,
    stderr,
  });
  return { code, out, err };
}

describe('identity commands', () => {
  it('refuse bad input before touching anything', async () => {
    expect(await run('create-user', { email: 'x@y.example', name: 'X', role: 'msp_admin' })).toMatchObject({
      code: 64,
      err: expect.stringContaining('--org'),
    });
    const bad = await run('create-user', {
      org: 'default',
      email: 'not an email',
      name: 'X',
      role: 'overlord',
    });
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/email/);
    expect(bad.err).toMatch(/role/);
  });

  it('create-user makes the first MSP administrator, who then signs in and must enroll TOTP', async () => {
    const password = `first-admin-${randomBytes(6).toString('hex')}`;
    const created = await run(
      'create-user',
      {
        org: 'default',
        email: 'Owner@Acme-IT.example',
        name: 'Acme Owner',
        role: 'msp_admin',
        'password-stdin': true,
      },
      `${password}\n`,
    );
    expect(created.err).toBe('');
    expect(created).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^user [0-9a-f-]{36} owner@acme-it\.example \(msp_admin\)/),
    });
    expect(created.out).not.toContain(password);

    const generated = await run('create-user', {
      org: 'default',
      email: 'tech@acme-it.example',
      name: 'Tech',
      role: 'msp_technician',
    });
    expect(generated.out).toMatch(/password \(shown once\): \S{20,}/);

    process.env.MEDFLEET_OIDC_CLIENT_SECRET = 'cli-secret-value';
    try {
      const sso = await run('configure-oidc', {
        org: 'default',
        issuer: 'http://127.0.0.1:1/idp',
        'client-id': 'medfleet',
        'allowed-domain': ['acme-it.example'],
      });
      expect(sso).toMatchObject({ code: 0, out: expect.stringContaining('/api/v1/auth/oidc/callback') });
    } finally {
      delete process.env.MEDFLEET_OIDC_CLIENT_SECRET;
    }

    let running: RunningControlPlane | null = null;
    try {
      running = await startControlPlane(config, createLogger('warn'));
      const anonymous = new ApiClient(running.httpUrl, null);
      const answer = await anonymous.post('/auth/login', {
        organization: 'default',
        email: 'owner@acme-it.example',
        password,
      });
      expect(answer).toMatchObject({ status: 200, body: { status: 'mfa_enrollment_required' } });
    } finally {
      await running?.close();
    }
  });
});
