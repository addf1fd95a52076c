// Approval and pre-authorized serials over the real wire: a token may name the serials it enrolls and may
// require a technician's approval; a pending agent has no credentials (MQTT refuses it) until approved,
// proves itself on every poll, and a rejected one never gets any.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import mqtt from 'mqtt';
import type { EnrollResponse } from '@medfleet/contracts';
import { auditEntries } from './support/audit.js';
import { newAgentKey } from './support/agent-pki.js';
import { enrollmentClient } from './support/grpc-client.js';
import {
  connectAgent,
  createTenantSession,
  device,
  expectOk,
  type TenantSession,
} from './support/tenant-session.js';
import { startDynsecMosquitto, type DynsecMosquitto } from './support/dynsec-mosquitto.js';
import { realBroker, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
/** With real services, a Mosquitto that checks credentials (dynamic-security), as in production. */
let broker: DynsecMosquitto | null = null;
let session: TenantSession;
let other: TenantSession;
let grpc: ReturnType<typeof enrollmentClient>;

const facts = (serial: string) => ({
  hostname: `pi-${serial.toLowerCase()}`,
  agentVersion: '1.0.0',
  os: 'linux',
  arch: 'arm64',
  serial,
  macAddresses: ['dc:a6:32:00:00:99'],
});

async function grpcFailure(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (error) {
    const failure = error as ServiceError;
    if (typeof failure.code === 'number') return { code: failure.code, details: failure.details };
    throw error;
  }
  throw new Error('the call was accepted');
}

/** Whether MQTT accepts these credentials (the embedded broker or Mosquitto, as configured). */
async function mqttAccepts(identity: EnrollResponse): Promise<boolean> {
  const url = identity.mqtt.url || cp.mqttUrl;
  const client = mqtt.connect(url, {
    clientId: identity.agentId,
    username: identity.agentId,
    password: identity.mqtt.password || identity.pollSecret || 'nothing',
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  return new Promise((resolve) => {
    client.once('connect', () => {
      client.end(true);
      resolve(true);
    });
    client.once('error', () => {
      client.end(true);
      resolve(false);
    });
    client.once('close', () => resolve(false));
  });
}

const poll = (identity: EnrollResponse, secret = identity.pollSecret ?? '') =>
  grpc.poll({ agentId: identity.agentId, tenantId: identity.tenantId, pollSecret: secret });

beforeAll(async () => {
  broker = realBroker ? await startDynsecMosquitto() : null;
  cp = await startTestControlPlane({
    ENROLLMENT_POLL_INTERVAL_SEC: '2',
    ...(broker
      ? {
          MQTT_URL: broker.url,
          MQTT_USERNAME: broker.admin.username,
          MQTT_PASSWORD: broker.admin.password,
          MQTT_DYNSEC: 'true',
        }
      : {}),
  });
  session = await createTenantSession(cp, 'Approval Practice');
  other = await createTenantSession(cp, 'Approval Other Practice');
  grpc = enrollmentClient(cp.grpcAddress);
});

afterAll(async () => {
  grpc?.close();
  await cp?.stop();
  await broker?.stop();
});

describe('pre-authorized serials', () => {
  it('a listed serial enrolls; the token shows its serials', async () => {
    const issued = await session.issueToken({ serials: ['PI-ALLOWED-1', 'PI-ALLOWED-2'], maxUses: 2 });
    expect(issued).toMatchObject({
      allowedSerials: ['PI-ALLOWED-1', 'PI-ALLOWED-2'],
      requiresApproval: false,
    });
    const identity = await grpc.enroll({ token: issued.token, facts: facts('PI-ALLOWED-2') });
    expect(identity.approvalState).toBe('approved');
    expect(identity.mqtt.password).not.toBe('');
  });

  it('an unlisted serial → PERMISSION_DENIED SERIAL_NOT_AUTHORIZED, nothing used, audited', async () => {
    const issued = await session.issueToken({ serials: ['PI-ALLOWED-9'] });
    const refused = await grpcFailure(grpc.enroll({ token: issued.token, facts: facts('PI-STRANGER') }));
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^SERIAL_NOT_AUTHORIZED: serial "PI-STRANGER" is not pre-authorized/);
    expect(await expectOk(session.api.get(`/enrollment-tokens/${issued.id}`))).toMatchObject({
      uses: 0,
      state: 'active',
    });
    const entries = await auditEntries(session.api, `tenantId=${session.tenant.id}`);
    const failed = entries.find(
      (entry) => entry.action === 'agent.enroll_failed' && entry.target?.id === issued.id,
    );
    expect(failed?.details).toMatchObject({ reason: 'serial_not_authorized', serial: 'PI-STRANGER' });
    // The listed serial still works with the same token.
    await expect(grpc.enroll({ token: issued.token, facts: facts('PI-ALLOWED-9') })).resolves.toMatchObject({
      approvalState: 'approved',
    });
  });

  it('refuses a bad serial list with 400 VALIDATION_FAILED', async () => {
    for (const serials of [[], [''], ['two words'], ['A', 'A'], 'PI-1']) {
      const response = await session.api.post('/enrollment-tokens', { siteId: session.site.id, serials });
      expect(response.status, JSON.stringify(serials)).toBe(400);
      expect((response.body as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('a token that requires approval', () => {
  let pending: EnrollResponse;
  let tokenId: string;

  beforeAll(async () => {
    const issued = await session.issueToken({ requiresApproval: true });
    tokenId = issued.id;
    const key = await newAgentKey();
    pending = await grpc.enroll({ token: issued.token, csrPem: key.csrPem, facts: facts('PI-PENDING') });
  });

  it('answers "pending" with a poll secret and no credentials, and uses the token', async () => {
    expect(pending).toMatchObject({
      approvalState: 'pending',
      tenantId: session.tenant.id,
      siteId: session.site.id,
      pollAfterSec: 2,
      certificatePem: '',
      caChainPem: [],
      mqtt: { password: '', username: '', url: '' },
    });
    expect(pending.pollSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await expectOk(session.api.get(`/agents/${pending.agentId}`))).toMatchObject({
      approvalState: 'pending',
      serial: 'PI-PENDING',
    });
    expect(await expectOk(session.api.get(`/enrollment-tokens/${tokenId}`))).toMatchObject({
      uses: 1,
      requiresApproval: true,
    });
  });

  it('a pending agent cannot connect to MQTT', async () => {
    expect(await mqttAccepts(pending)).toBe(false);
  });

  it('polling says "pending" again until approved', async () => {
    expect(await poll(pending)).toMatchObject({
      approvalState: 'pending',
      pollSecret: '',
      mqtt: { password: '' },
    });
  });

  it('a poll with a wrong secret, agent or tenant → UNAUTHENTICATED POLL_SECRET_INVALID', async () => {
    const secret = pending.pollSecret ?? '';
    for (const attempt of [
      () => poll(pending, 'not-the-secret'),
      () => poll(pending, ''),
      () => grpc.poll({ agentId: pending.agentId, tenantId: other.tenant.id, pollSecret: secret }),
      () => grpc.poll({ agentId: 'not-a-uuid', tenantId: pending.tenantId, pollSecret: secret }),
    ]) {
      const refused = await grpcFailure(attempt());
      expect(refused.code).toBe(status.UNAUTHENTICATED);
      expect(refused.details).toMatch(/^POLL_SECRET_INVALID/);
    }
  });

  it('another organization cannot approve it (404), and it stays pending', async () => {
    const { OrganizationService } = await import('../src/modules/organizations/organization.service.js');
    const outsider = await cp.app
      .get(OrganizationService)
      .create('Approval Outsider MSP', `approval-outsider-${Date.now()}`);
    const foreign = await createTenantSession(cp, 'Outsider Practice', { apiKey: outsider.apiKey.token });
    for (const decision of ['approve', 'reject']) {
      const response = await foreign.api.post(`/agents/${pending.agentId}/${decision}`);
      expect(response.status).toBe(404);
    }
    expect(await expectOk(session.api.get(`/agents/${pending.agentId}`))).toMatchObject({
      approvalState: 'pending',
    });
  });
});

describe('approval, end to end', () => {
  it('the agent waits, is approved, then gets MQTT credentials and a certificate that work', async () => {
    const issued = await session.issueToken({ requiresApproval: true });
    const key = await newAgentKey();
    const pending = await grpc.enroll({ token: issued.token, csrPem: key.csrPem, facts: facts('PI-E2E') });
    expect(pending.approvalState).toBe('pending');
    expect((await poll(pending)).approvalState).toBe('pending');

    const approved = await expectOk(session.api.post(`/agents/${pending.agentId}/approve`));
    expect(approved).toMatchObject({ id: pending.agentId, approvalState: 'approved' });
    // Approving twice changes nothing.
    await expectOk(session.api.post(`/agents/${pending.agentId}/approve`));

    const identity = await poll(pending);
    expect(identity).toMatchObject({
      agentId: pending.agentId,
      approvalState: 'approved',
      mqtt: { clientId: pending.agentId, username: pending.agentId },
    });
    expect(identity.mqtt.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(identity.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(identity.caChainPem).toHaveLength(2);

    const agent = await connectAgent(identity);
    try {
      await agent.publishInventory(1, [device(1)]);
      await agent.waitForAck(1);
    } finally {
      await agent.close();
    }
    // The credentials are issued once: the poll secret is spent.
    const again = await grpcFailure(poll(pending));
    expect(again.details).toMatch(/^POLL_SECRET_INVALID/);

    const actions = (await auditEntries(session.api, `tenantId=${session.tenant.id}`))
      .filter((entry) => entry.target?.id === pending.agentId)
      .map((entry) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining(['agent.enroll', 'agent.approve', 'agent.credentials_issued']),
    );
  });

  it('a rejected agent never gets credentials', async () => {
    const issued = await session.issueToken({ requiresApproval: true });
    const pending = await grpc.enroll({ token: issued.token, facts: facts('PI-REJECT') });
    const rejected = await expectOk(session.api.post(`/agents/${pending.agentId}/reject`));
    expect(rejected).toMatchObject({ approvalState: 'rejected' });
    const refused = await grpcFailure(poll(pending));
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^ENROLLMENT_REJECTED/);
    expect(await mqttAccepts(pending)).toBe(false);
    // Nor can it be approved afterwards.
    const late = await session.api.post(`/agents/${pending.agentId}/approve`);
    expect(late.status).toBe(409);
    expect((late.body as { error: { code: string } }).error.code).toBe('AGENT_NOT_PENDING');
  });

  it('an agent enrolled without approval cannot be approved or rejected (409)', async () => {
    const agent = await session.enrollAgent();
    try {
      const response = await session.api.post(`/agents/${agent.identity.agentId}/reject`);
      expect(response.status).toBe(409);
      expect((response.body as { error: { code: string } }).error.code).toBe('AGENT_NOT_PENDING');
    } finally {
      await agent.close();
    }
  });

  it('a revoked pending agent is refused on its next poll', async () => {
    const issued = await session.issueToken({ requiresApproval: true });
    const pending = await grpc.enroll({ token: issued.token, facts: facts('PI-REVOKE') });
    await expectOk(session.api.post(`/agents/${pending.agentId}/revoke`));
    const refused = await grpcFailure(poll(pending));
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^AGENT_REVOKED/);
  });
});
