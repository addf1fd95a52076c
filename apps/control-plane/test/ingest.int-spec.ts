// Ingest over the real wire: an enrolled agent publishes over MQTT, the control plane commits exactly once
// per (agent, seq), acks on cmd/ack, and dead-letters what it refuses without ever stopping.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_TYPES, encodeEnvelope, uplinkTopic } from '@medfleet/contracts';
import { IngestService } from '../src/modules/ingest/ingest.service.js';
import {
  createTenantSession,
  device,
  eventually,
  expectOk,
  type EnrolledAgent,
  type TenantSession,
} from './support/tenant-session.js';
import { realBroker, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;
let agent: EnrolledAgent;

const deadLetters = async (s: TenantSession) =>
  (await expectOk(s.api.get(`/dead-letters?tenantId=${s.tenant.id}`))).items as {
    reason: string;
    seq: number | null;
  }[];

beforeAll(async () => {
  cp = await startTestControlPlane({ INGEST_MAX_PAYLOAD_BYTES: '16384' });
  session = await createTenantSession(cp);
  agent = await session.enrollAgent();
});

afterAll(async () => {
  await agent?.close();
  await cp?.stop();
});

describe('ingest of inventory over MQTT', () => {
  it('upserts the reported devices and acks the seq', async () => {
    await agent.publishInventory(1, [
      device(1),
      device(2, { category: 'patient_monitor', vendor: 'Philips' }),
      device(3),
    ]);
    expect((await agent.waitForAck(1)).body.ackedSeq).toBe(1);
    const page = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(page.items).toHaveLength(3);
    expect(page.items.map((d: { mac: string }) => d.mac).sort()).toEqual(
      [device(1).mac, device(2).mac, device(3).mac].sort(),
    );
    const monitor = page.items.find((d: { category: string }) => d.category === 'patient_monitor');
    expect(monitor).toMatchObject({
      vendor: 'Philips',
      siteId: session.site.id,
      reportingAgentId: agent.identity.agentId,
      firmwareVersion: '12.1.2',
    });
  });

  it('ignores a replayed seq: acked again, applied once, nothing changed', async () => {
    await agent.publishInventory(1, [device(1, { firmwareVersion: '99.0.0' })]);
    await eventually(async () => agent.acks.filter((ack) => ack.body.ackedSeq === 1).length >= 2);
    const page = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(page.items.every((d: { firmwareVersion: string }) => d.firmwareVersion === '12.1.2')).toBe(true);
    const detail = await expectOk(session.api.get(`/agents/${agent.identity.agentId}`));
    expect(detail).toMatchObject({ ackedSeq: 1, messagesApplied: 1, status: 'online' });
  });

  it('updates a device on a later seq without creating a second row', async () => {
    await agent.publishInventory(2, [device(1, { firmwareVersion: '12.1.3', ip: '10.20.30.99' })]);
    await agent.waitForAck(2);
    const page = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(page.items).toHaveLength(3);
    expect(page.items.find((d: { mac: string }) => d.mac === device(1).mac)).toMatchObject({
      firmwareVersion: '12.1.3',
      ip: '10.20.30.99',
    });
  });
});

describe('bad input is dead-lettered with a reason, and the consumer keeps running', () => {
  const topic = () => uplinkTopic(agent.identity, 'inventory');
  const envelope = (seq: number, patch: Record<string, unknown> = {}) => ({
    v: 1,
    agentId: agent.identity.agentId,
    seq,
    sentAt: new Date().toISOString(),
    type: MESSAGE_TYPES.inventory,
    body: { complete: true, devices: [device(10)] },
    ...patch,
  });

  it('malformed JSON', async () => {
    await agent.publishRaw(topic(), '{"v":1,"agentId":');
    await eventually(async () => (await deadLetters(session)).some((d) => d.reason === 'MALFORMED_JSON'));
  });

  it('wrong schema: kept under its seq, so the ack moves past it', async () => {
    await agent.publishRaw(topic(), JSON.stringify(envelope(3, { body: { complete: 'yes', devices: [] } })));
    await agent.waitForAck(3);
    const letters = await deadLetters(session);
    expect(letters.find((d) => d.reason === 'SCHEMA_INVALID')).toMatchObject({ seq: 3 });
  });

  it('unknown protocol version', async () => {
    await agent.publishRaw(topic(), JSON.stringify(envelope(4, { v: 2 })));
    await agent.waitForAck(4);
    expect((await deadLetters(session)).find((d) => d.reason === 'UNSUPPORTED_VERSION')).toMatchObject({
      seq: 4,
    });
  });

  it('oversized payload', async () => {
    const huge = envelope(5, {
      body: { complete: true, devices: Array.from({ length: 200 }, (_, i) => device(100 + i)) },
    });
    const payload = encodeEnvelope(huge as never);
    expect(payload.byteLength).toBeGreaterThan(16384);
    await agent.publishRaw(topic(), payload);
    await eventually(async () => (await deadLetters(session)).some((d) => d.reason === 'PAYLOAD_TOO_LARGE'));
    const page = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}&limit=500`));
    expect(page.items).toHaveLength(3);
  });

  it('still applies good messages afterwards, none double-counted', async () => {
    await agent.publishInventory(5, [device(4)]);
    await agent.waitForAck(5);
    const detail = await expectOk(session.api.get(`/agents/${agent.identity.agentId}`));
    expect(detail).toMatchObject({ ackedSeq: 5, messagesApplied: 3 });
    const summary = await expectOk(session.api.get('/dead-letters/summary'));
    expect(summary.byReason).toEqual({
      MALFORMED_JSON: 1,
      SCHEMA_INVALID: 1,
      UNSUPPORTED_VERSION: 1,
      PAYLOAD_TOO_LARGE: 1,
    });
    const owner = await cp.owner();
    try {
      const { rows } = await owner.query(
        `SELECT count(*)::int AS n, count(DISTINCT seq)::int AS distinct_seqs FROM ingested_messages WHERE agent_id = $1`,
        [agent.identity.agentId],
      );
      expect(rows[0]).toEqual({ n: 5, distinct_seqs: 5 });
    } finally {
      await owner.end();
    }
  });
});

describe('one agent cannot write as another', () => {
  it('a publish under another agent’s topic never changes that agent’s data', async () => {
    const other = await createTenantSession(cp);
    const victim = await other.enrollAgent();
    const attacker = await session.enrollAgent();
    try {
      await victim.publishInventory(1, [device(500, { vendor: 'Baxter' })]);
      await victim.waitForAck(1);
      // The attacker keeps its own agentId in the envelope but publishes under the victim's topic.
      const forged = {
        v: 1,
        agentId: attacker.identity.agentId,
        seq: 2,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.inventory,
        body: { complete: true, devices: [device(501, { vendor: 'Evil' })] },
      };
      // The embedded broker drops the attacker's connection instead of acking, so do not wait for ever.
      await Promise.race([
        attacker
          .publishRaw(uplinkTopic(victim.identity, 'inventory'), JSON.stringify(forged))
          .catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
      if (realBroker) {
        // An external broker without ACLs delivers it: the control plane refuses it.
        await eventually(async () => (await deadLetters(other)).some((d) => d.reason === 'AGENT_MISMATCH'));
      } else {
        // The embedded broker refuses the publish itself; give it a moment to have (not) arrived.
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const devices = await expectOk(other.api.get(`/devices?tenantId=${other.tenant.id}`));
      expect(devices.items.map((d: { vendor: string }) => d.vendor)).toEqual(['Baxter']);
      expect(await expectOk(other.api.get(`/agents/${victim.identity.agentId}`))).toMatchObject({
        ackedSeq: 1,
      });
    } finally {
      await victim.close();
      await attacker.close();
    }
  });
});

describe('IngestService refusals, broker-independent', () => {
  const payload = (agentId: string, seq = 1) =>
    Buffer.from(
      JSON.stringify({
        v: 1,
        agentId,
        seq,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.inventory,
        body: { complete: true, devices: [] },
      }),
    );

  it('refuses a topic that is not an uplink stream it consumes', async () => {
    const outcome = await cp.app
      .get(IngestService)
      .handle('medfleet/v1/t/x/s/y/a/z/inventory', payload(randomUUID()));
    expect(outcome).toMatchObject({ status: 'dead_lettered', reason: 'UNKNOWN_TOPIC' });
  });

  it('refuses an agent that was never enrolled', async () => {
    const ghost = randomUUID();
    const topic = uplinkTopic(
      { tenantId: session.tenant.id, siteId: session.site.id, agentId: ghost },
      'inventory',
    );
    expect(await cp.app.get(IngestService).handle(topic, payload(ghost))).toMatchObject({
      status: 'dead_lettered',
      reason: 'UNKNOWN_AGENT',
    });
  });

  it('refuses an enrolled agent claiming another site', async () => {
    const topic = uplinkTopic({ ...agent.identity, siteId: randomUUID() }, 'inventory');
    expect(await cp.app.get(IngestService).handle(topic, payload(agent.identity.agentId, 6))).toMatchObject({
      status: 'dead_lettered',
      reason: 'AGENT_MISMATCH',
    });
  });

  it('refuses an agent of one tenant claiming another tenant', async () => {
    const other = await createTenantSession(cp);
    const topic = uplinkTopic(
      { tenantId: other.tenant.id, siteId: other.site.id, agentId: agent.identity.agentId },
      'inventory',
    );
    expect(await cp.app.get(IngestService).handle(topic, payload(agent.identity.agentId, 6))).toMatchObject({
      status: 'dead_lettered',
      reason: 'UNKNOWN_AGENT',
    });
  });
});

describe('a snapshot committed late', () => {
  it('never puts an older observation back over a newer one (a retransmission after a lost message)', async () => {
    const clinic = await createTenantSession(cp);
    const late = await clinic.enrollAgent();
    const newer = new Date();
    const older = new Date(newer.getTime() - 60_000);
    // Seq 2 (the newer observation) arrives first; seq 1, sent before it but lost, is retransmitted after.
    await late.publishInventory(2, [
      device(1, { firmwareVersion: '12.1.5', ip: '10.20.30.50', observedAt: newer.toISOString() }),
    ]);
    await late.publishInventory(1, [
      device(1, { firmwareVersion: '12.1.4', ip: '10.20.30.40', observedAt: older.toISOString() }),
    ]);
    await late.waitForAck(2);
    const page = await expectOk(clinic.api.get(`/devices?tenantId=${clinic.tenant.id}`));
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ firmwareVersion: '12.1.5', ip: '10.20.30.50' });
    // The late snapshot still counts as a sighting: the first time the device was seen moves back.
    expect(new Date(page.items[0].firstSeenAt).getTime()).toBe(older.getTime());
  });
});
