/**
 * Plays the control plane over the real broker: subscribes to one agent's uplink topics, checks every
 * envelope against the contract, and acks on its `cmd/ack`. Close them all with `closeControlPlanes()`.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import {
  agentTopicPrefix,
  downlinkTopic,
  encodeEnvelope,
  healthEnvelopeSchema,
  inventoryEnvelopeSchema,
  MESSAGE_TYPES,
  parseTopic,
  PROTOCOL_VERSION,
  eventEnvelopeSchema,
  jobProgressEnvelopeSchema,
  signWorkOrder,
  workOrderKeyOf,
  type AgentAddress,
  type AgentConfigBody,
  type CommandKind,
  type JobProgressBody,
  type JobProgressEnvelope,
  type SeqGapEnvelope,
  type SignedWorkOrder,
  type UplinkEnvelope,
  type WorkOrder,
  type WorkOrderKey,
} from '@medfleet/contracts';
import { localDateTime } from '@medfleet/scheduling';
import mqtt, { type MqttClient } from 'mqtt';
import type { AgentIdentity } from '../state.js';
import { TEST_MQTT_URL } from './fixtures.js';

const clients: MqttClient[] = [];

export async function closeControlPlanes(): Promise<void> {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
}

export type ControlPlane = Awaited<ReturnType<typeof controlPlane>>;

/** Each uplink stream's envelope schema, straight from the contract. */
const uplinkSchemas = {
  inventory: inventoryEnvelopeSchema,
  health: healthEnvelopeSchema,
  events: eventEnvelopeSchema,
  'jobs/progress': jobProgressEnvelopeSchema,
} as const;

export function addressOf(identity: AgentIdentity): AgentAddress {
  return { tenantId: identity.tenantId, siteId: identity.siteId, agentId: identity.agentId };
}

/** Plays the control plane: watches the agent's uplink topics and answers on its cmd/ topics. */
export async function controlPlane(identity: AgentIdentity) {
  const address = addressOf(identity);
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    protocolVersion: 5,
    clientId: `test-cp-${randomUUID()}`,
    clean: true,
    reconnectPeriod: 0,
  });
  clients.push(client);
  const received: { topic: string; envelope: UplinkEnvelope | JobProgressEnvelope; payload: Buffer }[] = [];
  const invalid: string[] = [];
  client.on('message', (topic, payload) => {
    const parsed = parseTopic(topic);
    if (parsed?.direction !== 'uplink') return;
    const schema = uplinkSchemas[parsed.stream as keyof typeof uplinkSchemas] as
      (typeof uplinkSchemas)[keyof typeof uplinkSchemas] | undefined;
    if (!schema) {
      invalid.push(`${topic}: unexpected stream`);
      return;
    }
    const result = schema.safeParse(JSON.parse(payload.toString('utf8')));
    if (!result.success) invalid.push(`${topic}: ${result.error.message}`);
    else if (
      result.data.type === MESSAGE_TYPES.seqGap &&
      'ranges' in result.data.body &&
      result.data.body.ranges.some((r) => r.toSeq >= result.data.seq)
    )
      invalid.push(`${topic}: a gap must lie below its report's own seq`);
    else received.push({ topic, envelope: result.data, payload });
  });
  await client.subscribeAsync(`${agentTopicPrefix(address)}/#`, { qos: 1 });
  let ackSeq = 0;
  const ackEnvelope = (ackedSeq: number, agentId: string, body: Record<string, unknown>, sentAt: Date) =>
    encodeEnvelope({
      v: PROTOCOL_VERSION,
      agentId,
      seq: (ackSeq += 1),
      sentAt: sentAt.toISOString(),
      type: MESSAGE_TYPES.ack,
      body: { ackedSeq, ...body },
    });
  return {
    received,
    invalid,
    seqs: () => received.map((message) => message.envelope.seq),
    gapReports: () =>
      received.flatMap((message) =>
        message.envelope.type === MESSAGE_TYPES.seqGap ? [message.envelope as SeqGapEnvelope] : [],
      ),
    countOf: (seq: number) => received.filter((message) => message.envelope.seq === seq).length,
    publish: (kind: CommandKind, payload: string | Buffer) =>
      client.publishAsync(downlinkTopic(address, kind), payload, { qos: 1 }),
    ack: (ackedSeq: number, agentId = identity.agentId) =>
      client.publishAsync(downlinkTopic(address, 'ack'), ackEnvelope(ackedSeq, agentId, {}, new Date()), {
        qos: 1,
      }),
    /** An ack with server times, as if the control plane's clock ran `skewMs` ahead of this machine's. */
    timedAck: (ackedSeq: number, forSeq: number, skewMs = 0) => {
      const now = Date.now() + skewMs;
      return client.publishAsync(
        downlinkTopic(address, 'ack'),
        ackEnvelope(
          ackedSeq,
          identity.agentId,
          { forSeq, receivedAt: new Date(now - 1).toISOString() },
          new Date(now),
        ),
        { qos: 1 },
      );
    },
    /** Publishes a config on `cmd/config` (retained, as the control plane does); `version` doubles as seq. */
    sendConfig: (body: AgentConfigBody | Record<string, unknown>, seq = 1) =>
      client.publishAsync(
        downlinkTopic(address, 'config'),
        Buffer.from(
          JSON.stringify({
            v: PROTOCOL_VERSION,
            agentId: identity.agentId,
            seq,
            sentAt: new Date().toISOString(),
            type: MESSAGE_TYPES.config,
            body,
          }),
        ),
        { qos: 1, retain: true },
      ),
    /** Publishes a work order on `cmd/jobs` (not retained: an order is for now, not for whoever subscribes later). */
    sendWorkOrder: (body: SignedWorkOrder | Record<string, unknown>, seq = 1) =>
      client.publishAsync(
        downlinkTopic(address, 'jobs'),
        Buffer.from(
          JSON.stringify({
            v: PROTOCOL_VERSION,
            agentId: identity.agentId,
            seq,
            sentAt: new Date().toISOString(),
            type: MESSAGE_TYPES.workOrder,
            body,
          }),
        ),
        { qos: 1 },
      ),
    /** The job progress received, once per seq (as the control plane commits it), in seq order; of one job or all. */
    jobProgress: (jobId?: string): JobProgressBody[] => {
      const bySeq = new Map<number, JobProgressEnvelope>();
      for (const { envelope } of received) {
        if (envelope.type === MESSAGE_TYPES.jobProgress)
          bySeq.set(envelope.seq, envelope as JobProgressEnvelope);
      }
      return [...bySeq.values()]
        .sort((a, b) => a.seq - b.seq)
        .map((envelope) => envelope.body)
        .filter((body) => jobId === undefined || body.jobId === jobId);
    },
    /** Removes the retained config so it does not outlive the test on a shared broker. */
    clearConfig: () =>
      client.publishAsync(downlinkTopic(address, 'config'), Buffer.alloc(0), { qos: 1, retain: true }),
  };
}

/** Plays the control plane's work-order signing: a fresh Ed25519 key and orders for one agent. */
export function workOrderSigner(keyId = `cp-test-${randomUUID().slice(0, 8)}`) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const trusted: WorkOrderKey = workOrderKeyOf(keyId, publicKey);
  return {
    keyId,
    trusted,
    privateKey: privateKey as KeyObject,
    sign: (order: WorkOrder): SignedWorkOrder => signWorkOrder(order, { keyId, privateKey }),
  };
}

/** A valid unsigned order for `agentId` whose window is [start, end) (whole seconds) and deadline its end. */
export function makeWorkOrder(
  agentId: string,
  window: { start: number; end: number; timeZone?: string },
  patch: Partial<WorkOrder> = {},
): WorkOrder {
  const timeZone = window.timeZone ?? 'America/New_York';
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    jobId: randomUUID(),
    campaignId: randomUUID(),
    attempt: 1,
    agentId,
    device: { mac: '00:00:00:00:00:00' },
    action: {
      kind: 'firmware_update',
      artifact: {
        version: '99.1.0',
        sha256: 'ab'.repeat(32),
        sizeBytes: 1_048_576,
        download: '/api/v1/artifacts/test/content',
      },
    },
    window: {
      startUtc: iso(window.start),
      endUtc: iso(window.end),
      startLocal: localDateTime(window.start, timeZone),
      endLocal: localDateTime(window.end, timeZone),
      timeZone,
    },
    deadline: iso(window.end),
    issuedAt: iso(window.start),
    ...patch,
  };
}
