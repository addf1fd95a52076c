/**
 * The fixture every integration test starts from: a tenant with a site, an enrollment token, and an
 * agent enrolled over real gRPC, with an MQTT connection of its own.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import {
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  ackEnvelopeSchema,
  commandFilter,
  decodeEnvelope,
  encodeEnvelope,
  uplinkTopic,
  type AckEnvelope,
  type DeviceReport,
  type EnrollResponse,
} from '@medfleet/contracts';
import { enrolledAgentTls, newAgentKey } from './agent-pki.js';
import { ApiClient } from './api-client.js';
import { enrollmentClient } from './grpc-client.js';
import type { TestControlPlane } from './test-env.js';

export interface EnrolledAgent {
  identity: EnrollResponse;
  mqtt: MqttClient;
  acks: AckEnvelope[];
  /** Publishes an inventory snapshot with the given seq. */
  publishInventory(seq: number, devices: DeviceReport[]): Promise<void>;
  publishRaw(topic: string, payload: Buffer | string): Promise<void>;
  /** Resolves once an ack with ackedSeq >= seq arrived. */
  waitForAck(seq: number, timeoutMs?: number): Promise<AckEnvelope>;
  close(): Promise<void>;
}

export interface SiteRecord {
  id: string;
  tenantId: string;
  name: string;
  timeZone: string;
}

/** An enrollment token as POST /enrollment-tokens answers it: the record plus the token, shown once. */
export interface IssuedToken {
  id: string;
  tenantId: string;
  siteId: string;
  token: string;
  maxUses: number;
  uses: number;
  state: string;
}

export interface TenantSession {
  api: ApiClient;
  tenant: { id: string; name: string; organizationId: string };
  site: SiteRecord;
  /** Enrolls an agent at the session's site (or another site of the tenant) and connects it to MQTT. */
  enrollAgent(options?: { siteId?: string }): Promise<EnrolledAgent>;
  createToken(options?: Record<string, unknown>): Promise<string>;
  /** Like createToken, but answers the whole record (id, state, uses) beside the token. */
  issueToken(options?: Record<string, unknown>): Promise<IssuedToken>;
  /** Adds another site to the session's tenant. */
  createSite(fields?: Record<string, unknown>): Promise<SiteRecord>;
}

export interface TenantSessionOptions {
  /** The organization API key to act with; the bootstrap organization's key by default. */
  apiKey?: string;
}

export async function createTenantSession(
  cp: TestControlPlane,
  name = `Practice ${randomUUID().slice(0, 8)}`,
  options: TenantSessionOptions = {},
) {
  const api = new ApiClient(cp.httpUrl, options.apiKey ?? cp.apiKey);
  const tenant = await expectOk(api.post('/tenants', { name }));
  const site = await expectOk<SiteRecord>(
    api.post('/sites', {
      tenantId: tenant.id,
      name: `${name} – Main`,
      county: 'Miami-Dade',
      state: 'FL',
      timeZone: 'America/New_York',
    }),
  );
  const issueToken = (tokenOptions: Record<string, unknown> = {}) =>
    expectOk<IssuedToken>(api.post('/enrollment-tokens', { siteId: site.id, ...tokenOptions }));
  const createToken = async (tokenOptions: Record<string, unknown> = {}) =>
    (await issueToken(tokenOptions)).token;
  const session: TenantSession = {
    api,
    tenant,
    site,
    createToken,
    issueToken,
    createSite: (fields = {}) =>
      expectOk<SiteRecord>(
        api.post('/sites', {
          tenantId: tenant.id,
          name: `${name} – ${randomUUID().slice(0, 8)}`,
          timeZone: 'America/New_York',
          ...fields,
        }),
      ),
    async enrollAgent(enrollOptions = {}) {
      const client = enrollmentClient(cp.grpcAddress);
      try {
        const token = await createToken(enrollOptions.siteId ? { siteId: enrollOptions.siteId } : {});
        const key = await newAgentKey();
        const identity = await client.enroll({ token, csrPem: key.csrPem });
        enrolledAgentTls.set(identity.agentId, {
          address: cp.grpcTlsAddress,
          serverCaPem: cp.grpcServerCaPem ?? '',
          privateKeyPem: key.privateKeyPem,
          certificateChainPem: `${identity.certificatePem}${identity.caChainPem[0] ?? ''}`,
        });
        return await connectAgent(identity);
      } finally {
        client.close();
      }
    },
  };
  return session;
}

export async function connectAgent(identity: EnrollResponse): Promise<EnrolledAgent> {
  const client = await mqtt.connectAsync(identity.mqtt.url, {
    clientId: identity.mqtt.clientId,
    username: identity.mqtt.username,
    password: identity.mqtt.password,
    protocolVersion: identity.mqtt.protocolVersion as 4 | 5,
    clean: true,
    reconnectPeriod: 0,
  });
  const acks: AckEnvelope[] = [];
  const waiters: { seq: number; resolve: (ack: AckEnvelope) => void }[] = [];
  client.on('message', (_topic, payload) => {
    const decoded = decodeEnvelope(payload, ackEnvelopeSchema);
    if (!decoded.ok) return;
    acks.push(decoded.message);
    for (const waiter of [...waiters]) {
      if (decoded.message.body.ackedSeq >= waiter.seq) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(decoded.message);
      }
    }
  });
  await client.subscribeAsync(commandFilter(identity), { qos: 1 });
  const address = { tenantId: identity.tenantId, siteId: identity.siteId, agentId: identity.agentId };
  return {
    identity,
    mqtt: client,
    acks,
    async publishInventory(seq, devices) {
      const envelope = {
        v: PROTOCOL_VERSION,
        agentId: identity.agentId,
        seq,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.inventory,
        body: { complete: true, devices },
      };
      await client.publishAsync(uplinkTopic(address, 'inventory'), encodeEnvelope(envelope), { qos: 1 });
    },
    async publishRaw(topic, payload) {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    waitForAck(seq, timeoutMs = 15_000) {
      const done = acks.find((ack) => ack.body.ackedSeq >= seq);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ack >= ${seq} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          seq,
          resolve: (ack) => {
            clearTimeout(timer);
            resolve(ack);
          },
        });
      });
    },
    async close() {
      await client.endAsync(true);
    },
  };
}

export async function expectOk<T = any>(response: Promise<{ status: number; body: T }>): Promise<T> {
  const { status, body } = await response;
  if (status >= 300) throw new Error(`expected success, got ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** Polls until `check` returns a value, or fails after the timeout. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function device(index: number, patch: Partial<DeviceReport> = {}): DeviceReport {
  const hex = index.toString(16).padStart(4, '0');
  return {
    mac: `00:0a:f7:00:${hex.slice(0, 2)}:${hex.slice(2)}`,
    ip: `10.20.30.${(index % 250) + 1}`,
    vlan: 30,
    category: 'infusion_pump',
    vendor: 'BD',
    model: 'Alaris 8015 PC Unit',
    firmwareVersion: '12.1.2',
    observedAt: new Date().toISOString(),
    ...patch,
  };
}
