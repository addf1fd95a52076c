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

export interface TenantSession {
  api: ApiClient;
  tenant: { id: string; name: string };
  site: { id: string; tenantId: string; name: string };
  enrollAgent(): Promise<EnrolledAgent>;
  createToken(options?: Record<string, unknown>): Promise<string>;
}

export async function createTenantSession(
  cp: TestControlPlane,
  name = `Practice ${randomUUID().slice(0, 8)}`,
) {
  const api = new ApiClient(cp.httpUrl, cp.apiKey);
  const tenant = await expectOk(api.post('/tenants', { name }));
  const site = await expectOk(
    api.post('/sites', {
      tenantId: tenant.id,
      name: `${name} – Main`,
      county: 'Miami-Dade',
      state: 'FL',
      timeZone: 'America/New_York',
    }),
  );
  const createToken = async (options: Record<string, unknown> = {}) =>
    (await expectOk(api.post('/enrollment-tokens', { siteId: site.id, ...options }))).token as string;
  const session: TenantSession = {
    api,
    tenant,
    site,
    createToken,
    async enrollAgent() {
      const client = enrollmentClient(cp.grpcAddress);
      try {
        return await connectAgent(await client.enroll({ token: await createToken() }));
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
