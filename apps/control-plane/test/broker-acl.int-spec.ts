// MQTT access per agent on an external Mosquitto 2: the control plane provisions the dynamic-security
// plugin at enrollment and revocation, and the broker itself refuses what an agent may not do.
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentTopicPrefix, commandFilter, uplinkTopic } from '@medfleet/contracts';
import { BrokerProvisioning } from '../src/modules/broker/broker-provisioning.service.js';
import { assertAgentUsername } from '../src/modules/broker/dynsec-acl.js';
import type { DynsecBrokerProvisioning } from '../src/modules/broker/dynsec-provisioning.service.js';
import { startDynsecMosquitto, type DynsecMosquitto } from './support/dynsec-mosquitto.js';
import { enrollmentClient } from './support/grpc-client.js';
import {
  connectAgent,
  createTenantSession,
  device,
  eventually,
  expectOk,
  type EnrolledAgent,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let broker: DynsecMosquitto;
let cp: TestControlPlane;
let session: TenantSession;
let a: EnrolledAgent;
let b: EnrolledAgent;
/** The dynsec admin, subscribed to every agent topic: sees whatever the broker lets through. */
let spy: MqttClient;
const seen: string[] = [];

const address = (agent: EnrolledAgent) => ({
  tenantId: agent.identity.tenantId,
  siteId: agent.identity.siteId,
  agentId: agent.identity.agentId,
});

function tryConnect(options: mqtt.IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
}

/** The SUBACK code the broker gave one subscription (mqtt.js rejects when every one failed). */
async function subackCode(client: MqttClient, topic: string): Promise<number | undefined> {
  try {
    const [grant] = await client.subscribeAsync(topic, { qos: 1 });
    return grant?.qos;
  } catch (error) {
    const packet = (error as { packet?: { granted?: (number | { qos: number })[] } }).packet;
    const code = packet?.granted?.[0];
    return typeof code === 'number' ? code : code?.qos;
  }
}

/** Publishes a marker as B on its own topic and waits until the spy saw it: all before it was delivered. */
async function barrier(): Promise<void> {
  const marker = `barrier-${randomUUID()}`;
  await b.publishRaw(uplinkTopic(address(b), 'events'), marker);
  await eventually(async () => seen.some((entry) => entry.endsWith(marker)));
}

beforeAll(async () => {
  broker = await startDynsecMosquitto();
  cp = await startTestControlPlane({
    MQTT_URL: broker.url,
    MQTT_USERNAME: broker.admin.username,
    MQTT_PASSWORD: broker.admin.password,
    MQTT_DYNSEC: 'true',
  });
  session = await createTenantSession(cp);
  a = await session.enrollAgent();
  b = await session.enrollAgent();
  spy = await tryConnect({ ...broker.admin, clientId: `spy-${randomUUID()}` });
  spy.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString('utf8')}`));
  await spy.subscribeAsync('medfleet/#', { qos: 1 });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await spy?.endAsync(true);
  await cp?.stop();
  await broker?.stop();
});

describe('Mosquitto dynamic-security provisioned by the control plane', () => {
  it('provisions each enrolled agent: it connects with its own credentials, MQTT 5', () => {
    expect(cp.app.get(BrokerProvisioning).kind).toBe('dynsec');
    for (const agent of [a, b]) {
      expect(agent.mqtt.connected).toBe(true);
      expect(agent.identity.mqtt).toMatchObject({
        url: broker.url,
        clientId: agent.identity.agentId,
        username: agent.identity.agentId,
        protocolVersion: 5,
      });
    }
  });

  it('ingests and acks an agent’s own inventory (control-plane role: $share subscriptions, cmd/ publish)', async () => {
    await a.publishInventory(1, [device(1)]);
    const ack = await a.waitForAck(1);
    expect(ack.body.ackedSeq).toBe(1);
    const devices = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(devices.items.map((d: { mac: string }) => d.mac)).toEqual([device(1).mac]);
  });

  it('refuses a wrong password, another agent’s password, and a client id other than the agent id', async () => {
    const id = a.identity.agentId;
    await expect(tryConnect({ clientId: id, username: id, password: 'wrong' })).rejects.toThrow();
    await expect(
      tryConnect({ clientId: id, username: id, password: b.identity.mqtt.password }),
    ).rejects.toThrow();
    await expect(
      tryConnect({ clientId: `${id}-x`, username: id, password: a.identity.mqtt.password }),
    ).rejects.toThrow();
    // Anonymous access is off.
    await expect(tryConnect({ clientId: randomUUID() })).rejects.toThrow();
  });

  it('agent A cannot publish on agent B’s topics: the broker drops it (PUBACK 0x87), nothing is ingested', async () => {
    const forged = Buffer.from(
      JSON.stringify({
        forged: 'forged-by-a',
        v: 1,
        agentId: b.identity.agentId,
        seq: 1,
        sentAt: new Date().toISOString(),
        type: 'inventory',
        body: { complete: true, devices: [device(9)] },
      }),
    );
    const targets = [
      uplinkTopic(address(b), 'inventory'),
      uplinkTopic(address(b), 'health'),
      `${agentTopicPrefix(address(b))}/cmd/ack`,
      // Nor commands to itself, nor topics outside the scheme.
      `${agentTopicPrefix(address(a))}/cmd/ack`,
      `${agentTopicPrefix(address(a))}/other`,
      'medfleet/v1/anything',
    ];
    for (const topic of targets) {
      await expect(a.publishRaw(topic, forged)).rejects.toMatchObject({ code: 0x87 });
    }
    await barrier();
    expect(seen.filter((entry) => entry.includes('forged-by-a'))).toEqual([]);
    expect(b.acks).toEqual([]);
    const devices = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(devices.items.map((d: { mac: string }) => d.mac)).not.toContain(device(9).mac);
    expect(await expectOk(session.api.get(`/agents/${b.identity.agentId}`))).toMatchObject({
      ackedSeq: 0,
    });
  });

  it('agent A cannot subscribe to agent B’s cmd/ nor to wildcards (SUBACK failure), only to its own cmd/', async () => {
    const refused = [
      commandFilter(address(b)),
      `${agentTopicPrefix(address(b))}/cmd/ack`,
      uplinkTopic(address(b), 'inventory'),
      'medfleet/#',
      '#',
      `$share/g/${commandFilter(address(b))}`,
      `${agentTopicPrefix(address(a))}/#`,
    ];
    for (const topic of refused) expect(await subackCode(a.mqtt, topic), topic).toBe(0x87);
    expect(await subackCode(a.mqtt, `${agentTopicPrefix(address(a))}/cmd/ack`)).toBe(1);
    expect(await subackCode(a.mqtt, commandFilter(address(a)))).toBe(1);
  });

  it('refuses MQTT usernames and client ids with #, + or / (CVE-2017-7650)', async () => {
    const provisioning = cp.app.get(BrokerProvisioning);
    for (const bad of ['#', '+', 'a/b', `${a.identity.agentId}/#`, `${a.identity.agentId}+`]) {
      expect(() => assertAgentUsername(bad)).toThrow(/no #, \+ or \//);
      await expect(
        provisioning.provisionAgent({ ...address(a), agentId: bad }, 'secret-for-a-bad-name'),
      ).rejects.toThrow(TypeError);
      await expect(
        tryConnect({ clientId: bad, username: bad, password: 'secret-for-a-bad-name' }),
      ).rejects.toThrow();
    }
    // A's own secret does not open a wildcard identity either.
    await expect(
      tryConnect({ clientId: '#', username: '#', password: a.identity.mqtt.password }),
    ).rejects.toThrow();
    // The ids the control plane hands out are UUIDs.
    for (const agent of [a, b]) assertAgentUsername(agent.identity.agentId);
  });

  it('provisioning is idempotent: repeating it re-creates the same client, the latest secret wins', async () => {
    const provisioning = cp.app.get(BrokerProvisioning);
    const target = { ...address(a), agentId: randomUUID() };
    await provisioning.provisionAgent(target, 'first-secret-0123456789');
    await provisioning.provisionAgent(target, 'second-secret-0123456789');
    const client = await tryConnect({
      clientId: target.agentId,
      username: target.agentId,
      password: 'second-secret-0123456789',
    });
    const [grant] = await client.subscribeAsync(commandFilter(target), { qos: 1 });
    expect(grant?.qos).toBe(1);
    await client.endAsync(true);
    await expect(
      tryConnect({ clientId: target.agentId, username: target.agentId, password: 'first-secret-0123456789' }),
    ).rejects.toThrow();
    await provisioning.deprovisionAgent(target.agentId);
    await provisioning.deprovisionAgent(target.agentId);
    expect((provisioning as DynsecBrokerProvisioning).pendingRemovals).toEqual([]);
  });

  it('a failed dynsec call fails the enrollment and rolls it back (token use not consumed)', async () => {
    const provisioning = cp.app.get(BrokerProvisioning);
    const spyProvision = vi
      .spyOn(provisioning, 'provisionAgent')
      .mockRejectedValueOnce(new Error('dynamic-security createClient failed: no answer within 5000 ms'));
    const issued = await session.issueToken();
    const client = enrollmentClient(cp.grpcAddress);
    try {
      await expect(client.enroll({ token: issued.token })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
        details: expect.stringMatching(/^BROKER_UNAVAILABLE:/),
      });
      expect(spyProvision).toHaveBeenCalledTimes(1);
      expect(await expectOk(session.api.get(`/enrollment-tokens/${issued.id}`))).toMatchObject({ uses: 0 });
      // The agent retries: this time the broker answers, and the one-use token still works.
      const identity = await client.enroll({ token: issued.token });
      const agent = await connectAgent(identity);
      expect(agent.mqtt.connected).toBe(true);
      await agent.close();
      const agents = await expectOk(session.api.get(`/agents?siteId=${session.site.id}`));
      expect(agents.items).toHaveLength(3);
    } finally {
      spyProvision.mockRestore();
      client.close();
    }
  });

  it('revoking an agent closes its connection within a minute and refuses it afterwards; B keeps working', async () => {
    const closed = new Promise<void>((resolve) => a.mqtt.once('close', () => resolve()));
    const started = Date.now();
    await expectOk(session.api.post(`/agents/${a.identity.agentId}/revoke`));
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('still connected after 60 s')), 60_000)),
    ]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(a.mqtt.connected).toBe(false);
    await expect(connectAgent(a.identity)).rejects.toThrow();
    // Revoking again is harmless (the broker client is already gone).
    await expectOk(session.api.post(`/agents/${a.identity.agentId}/revoke`));
    expect((cp.app.get(BrokerProvisioning) as DynsecBrokerProvisioning).pendingRemovals).toEqual([]);
    expect(b.mqtt.connected).toBe(true);
    await b.publishInventory(1, [device(2)]);
    expect((await b.waitForAck(1)).body.ackedSeq).toBe(1);
  });
});
