// Zero-touch enrollment and agent identity with the real processes: the built agent makes its key pair,
// enrolls with a CSR, waits as "pending" until a technician approves it through the API, renews its
// certificate over mutual TLS, and a fresh box enrolls itself from its boot-partition settings over TLS
// and reports. Real PostgreSQL and Mosquitto in CI, the embedded default elsewhere.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  CONTROL_PLANE,
  api,
  eventually,
  freePort,
  runToEnd,
  start,
  testDatabase,
  type RunningProcess,
} from '../support/processes.js';

let work: string;
let database: Awaited<ReturnType<typeof testDatabase>>;
let env: Record<string, string>;
let controlPlane: RunningProcess;
let base: string;
let apiKey: string;
let siteId: string;
let plaintext: string;
let tlsAddress: string;
const running: RunningProcess[] = [];

const mode = (file: string) => statSync(file).mode & 0o777;
const identityOf = (stateDir: string) =>
  JSON.parse(readFileSync(path.join(stateDir, 'identity.json'), 'utf8')) as {
    agentId: string;
    certificatePem: string;
    caChainPem: string[];
    grpcTlsAddress: string;
  };

async function token(options: Record<string, unknown> = {}): Promise<string> {
  const issued = await api(base, apiKey, 'POST', '/enrollment-tokens', { siteId, ...options });
  expect(issued.status).toBe(201);
  return issued.body.token as string;
}

function enrollProcess(stateDir: string, enrollmentToken: string): RunningProcess {
  const process = start(AGENT, [
    'enroll',
    '--server',
    plaintext,
    '--token',
    enrollmentToken,
    '--state-dir',
    stateDir,
    '--insecure',
  ]);
  running.push(process);
  return process;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'medfleet-e2e-identity-'));
  database = await testDatabase();
  const port = await freePort();
  const grpcPort = await freePort();
  const grpcTlsPort = await freePort();
  env = {
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    GRPC_TLS_PORT: String(grpcTlsPort),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    DATA_DIR: path.join(work, 'control-plane'),
    MQTT_SHARE_GROUP: `e2e-identity-${port}`,
    MQTT_SESSION_EXPIRY_SEC: '0',
    ENROLLMENT_POLL_INTERVAL_SEC: '1',
    // Short enough that a running agent renews on its own during the test (a third left: after ~20 s).
    AGENT_CERT_LIFETIME_SEC: '30',
    LOG_LEVEL: 'info',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(process.env.TEST_MQTT_URL ? { MQTT_URL: process.env.TEST_MQTT_URL } : {}),
  };
  plaintext = `127.0.0.1:${grpcPort}`;
  tlsAddress = `127.0.0.1:${grpcTlsPort}`;
  base = `http://127.0.0.1:${port}`;
  controlPlane = start(CONTROL_PLANE, ['serve'], env);
  await controlPlane.waitFor(/"msg":"control plane ready"/, 60_000);
  apiKey = (await controlPlane.waitFor(/MEDFLEET_API_KEY=(mfk_\S+)/))[1] as string;
  const tenant = await api(base, apiKey, 'POST', '/tenants', { name: 'Hialeah Family Dental' });
  const site = await api(base, apiKey, 'POST', '/sites', {
    tenantId: tenant.body.id,
    name: 'Hialeah – W 49th St',
    county: 'Miami-Dade',
    state: 'FL',
    timeZone: 'America/New_York',
  });
  siteId = site.body.id;
}, 90_000);

afterAll(async () => {
  for (const process of running) await process.stop('SIGKILL');
  await controlPlane?.stop();
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

describe('the agent CLI with approval', () => {
  const stateDir = () => path.join(work, 'approved');

  it('enrolls with a CSR, waits as pending, and finishes once a technician approves it', async () => {
    const enrolling = enrollProcess(stateDir(), await token({ requiresApproval: true }));
    const agentId = (await enrolling.waitFor(/pending approval: agent (\S+) waits/))[1] as string;

    // Waiting: the key is on disk (0600), no identity yet, and the control plane lists it as pending.
    expect(mode(path.join(stateDir(), 'agent.key'))).toBe(0o600);
    expect(readdirSync(stateDir())).not.toContain('identity.json');
    const listed = await api(base, apiKey, 'GET', `/agents/${agentId}`);
    expect(listed.body).toMatchObject({ approvalState: 'pending' });
    // It keeps waiting through a few polls.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(enrolling.child.exitCode).toBeNull();

    const approved = await api(base, apiKey, 'POST', `/agents/${agentId}/approve`);
    expect(approved.status).toBe(200);
    expect(await enrolling.exit()).toBe(0);
    expect(enrolling.output()).toMatch(new RegExp(`enrolled as agent ${agentId}`));

    const identity = identityOf(stateDir());
    expect(identity.agentId).toBe(agentId);
    expect(identity.grpcTlsAddress).toBe(tlsAddress);
    expect(mode(path.join(stateDir(), 'identity.json'))).toBe(0o600);
    expect(mode(path.join(stateDir(), 'agent.key'))).toBe(0o600);
    const key = createPrivateKey(readFileSync(path.join(stateDir(), 'agent.key')));
    const certificate = new X509Certificate(identity.certificatePem);
    expect(certificate.checkPrivateKey(key)).toBe(true);
    expect(certificate.subjectAltName).toContain(`URI:urn:medfleet:agent:${agentId}`);
    expect(certificate.verify(new X509Certificate(identity.caChainPem[0] as string).publicKey)).toBe(true);
  }, 60_000);

  it('renews its certificate over mutual TLS: a new key and a new certificate, still 0600', async () => {
    const before = identityOf(stateDir());
    const keyBefore = readFileSync(path.join(stateDir(), 'agent.key'), 'utf8');
    const renewed = await runToEnd(AGENT, ['renew-certificate', '--state-dir', stateDir()]);
    expect(renewed.code, renewed.output).toBe(0);
    const after = identityOf(stateDir());
    const keyAfter = readFileSync(path.join(stateDir(), 'agent.key'), 'utf8');
    expect(keyAfter).not.toBe(keyBefore);
    expect(mode(path.join(stateDir(), 'agent.key'))).toBe(0o600);
    expect(readdirSync(stateDir())).not.toContain('agent.key.next');
    const certificate = new X509Certificate(after.certificatePem);
    expect(certificate.serialNumber).not.toBe(new X509Certificate(before.certificatePem).serialNumber);
    expect(certificate.checkPrivateKey(createPrivateKey(keyAfter))).toBe(true);
  }, 60_000);

  it('a revoked agent can no longer renew', async () => {
    const { agentId } = identityOf(stateDir());
    expect((await api(base, apiKey, 'POST', `/agents/${agentId}/revoke`)).status).toBe(200);
    const refused = await runToEnd(AGENT, ['renew-certificate', '--state-dir', stateDir()]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/AGENT_REVOKED/);
  }, 60_000);

  it('a rejected agent stops waiting and never gets an identity', async () => {
    const dir = path.join(work, 'rejected');
    const enrolling = enrollProcess(dir, await token({ requiresApproval: true }));
    const agentId = (await enrolling.waitFor(/pending approval: agent (\S+) waits/))[1] as string;
    expect((await api(base, apiKey, 'POST', `/agents/${agentId}/reject`)).status).toBe(200);
    expect(await enrolling.exit()).toBe(1);
    expect(enrolling.output()).toMatch(/ENROLLMENT_REJECTED/);
    expect(readdirSync(dir)).not.toContain('identity.json');
  }, 60_000);
});

describe('zero-touch', () => {
  it('a fresh box with settings on its boot partition enrolls itself over TLS and reports', async () => {
    const stateDir = path.join(work, 'zero-touch');
    const caFile = path.join(env.DATA_DIR as string, 'pki', 'grpc-server-ca.pem');
    const conf = path.join(work, 'medfleet.conf');
    writeFileSync(
      conf,
      `# written when the card was imaged\nserver = ${tlsAddress}\ntoken = ${await token()}\nca_file = ${caFile}\n`,
    );
    const agent = start(AGENT, ['run', '--state-dir', stateDir, '--bootstrap-file', conf, '--devices', '5']);
    running.push(agent);
    const agentId = (await agent.waitFor(/enrolled as agent (\S+)/, 30_000))[1] as string;
    expect(mode(path.join(stateDir, 'agent.key'))).toBe(0o600);
    expect(identityOf(stateDir).certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const devices = await eventually(async () => {
      const page = await api(base, apiKey, 'GET', `/devices?siteId=${siteId}&limit=100`);
      return page.body.items.length >= 5 ? page.body.items : null;
    }, 45_000);
    expect(devices.length).toBe(5);
    const listed = await api(base, apiKey, 'GET', `/agents/${agentId}`);
    expect(listed.body).toMatchObject({ approvalState: 'approved', siteId });

    // Running, it renews its certificate by itself once a third of the lifetime is left.
    const first = new X509Certificate(identityOf(stateDir).certificatePem);
    await agent.waitFor(/"msg":"agent certificate renewed"/, 40_000);
    const renewed = new X509Certificate(identityOf(stateDir).certificatePem);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(renewed.checkPrivateKey(createPrivateKey(readFileSync(path.join(stateDir, 'agent.key'))))).toBe(
      true,
    );
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    expect(await agent.stop()).toBe(0);
  }, 120_000);

  it('without identity or bootstrap settings, run says how to enroll', async () => {
    const refused = await runToEnd(AGENT, [
      'run',
      '--state-dir',
      path.join(work, 'nothing'),
      '--bootstrap-file',
      path.join(work, 'missing.conf'),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/bootstrap file .*missing\.conf does not exist/);
  });
});
