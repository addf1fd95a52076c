// AgentSync over real gRPC: snapshots too large for one MQTT message arrive in chunks and are committed
// once, through the same idempotent path as MQTT ingest.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceReport, InventoryChunk } from '@medfleet/contracts';
import { agentSyncClient } from './support/agent-sync-client.js';
import {
  createTenantSession,
  device,
  expectOk,
  type EnrolledAgent,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;
let agent: EnrolledAgent;
let sync: ReturnType<typeof agentSyncClient>;

const chunked = (
  seq: number,
  devices: DeviceReport[],
  perChunk: number,
  secret = agent.identity.mqtt.password,
) => {
  const chunks: InventoryChunk[] = [];
  for (let i = 0; i < devices.length; i += perChunk) {
    chunks.push({
      agentId: agent.identity.agentId,
      agentSecret: secret,
      seq,
      chunkIndex: chunks.length,
      last: i + perChunk >= devices.length,
      devicesJson: Buffer.from(JSON.stringify(devices.slice(i, i + perChunk))),
      sentAt: new Date().toISOString(),
    });
  }
  return chunks;
};

const countDevices = async () => {
  let total = 0;
  let cursor: string | null = null;
  do {
    const page: any = await expectOk(
      session.api.get(`/devices?tenantId=${session.tenant.id}&limit=500${cursor ? `&cursor=${cursor}` : ''}`),
    );
    total += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return total;
};

beforeAll(async () => {
  cp = await startTestControlPlane();
  session = await createTenantSession(cp);
  agent = await session.enrollAgent();
  sync = agentSyncClient(cp.grpcAddress);
});

afterAll(async () => {
  sync?.close();
  await agent?.close();
  await cp?.stop();
});

describe('AgentSync.UploadInventory', () => {
  const big = Array.from({ length: 3000 }, (_, i) => device(i + 1));

  it('commits a 3,000-device snapshot sent in 12 chunks, and acks its seq over MQTT too', async () => {
    const receipt = await sync.upload(chunked(1, big, 250));
    expect(receipt).toEqual({ seq: 1, devicesAccepted: 3000, duplicate: false, ackedSeq: 1 });
    expect(await countDevices()).toBe(3000);
    expect((await agent.waitForAck(1)).body.ackedSeq).toBe(1);
  });

  it('a repeated upload of the same seq is a duplicate and writes nothing', async () => {
    const receipt = await sync.upload(
      chunked(
        1,
        big.map((d) => ({ ...d, firmwareVersion: '0.0.1' })),
        1000,
      ),
    );
    expect(receipt).toMatchObject({ seq: 1, devicesAccepted: 0, duplicate: true, ackedSeq: 1 });
    const detail = await expectOk(session.api.get(`/agents/${agent.identity.agentId}`));
    expect(detail.messagesApplied).toBe(1);
  });

  it('refuses a wrong secret', async () => {
    await expect(sync.upload(chunked(2, big.slice(0, 10), 5, 'not-the-secret'))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });

  it('refuses chunks out of order', async () => {
    const chunks = chunked(2, big.slice(0, 10), 5);
    await expect(
      sync.upload([chunks[1] as InventoryChunk, chunks[0] as InventoryChunk]),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  }, 10_000);

  it('refuses a stream that ends without its last chunk', async () => {
    const chunks = chunked(2, big.slice(0, 10), 5);
    await expect(sync.upload([{ ...(chunks[0] as InventoryChunk), last: false }])).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  }, 10_000);

  it('dead-letters an invalid device under its seq and says why', async () => {
    const bad = [device(1), { ...device(2), mac: 'not-a-mac' }];
    await expect(sync.upload(chunked(2, bad as DeviceReport[], 1))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('SCHEMA_INVALID'),
    });
    const letters = await expectOk(session.api.get(`/dead-letters?tenantId=${session.tenant.id}`));
    expect(letters.items[0]).toMatchObject({ reason: 'SCHEMA_INVALID', seq: 2 });
    expect((await agent.waitForAck(2)).body.ackedSeq).toBe(2);
  });
});
