// Revoking an agent cuts it off: its messages are refused, its credentials stop working on MQTT and
// AgentSync, and (embedded broker) its live connection is closed at once.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSyncClient } from './support/agent-sync-client.js';
import {
  connectAgent,
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

beforeAll(async () => {
  cp = await startTestControlPlane();
  session = await createTenantSession(cp);
  agent = await session.enrollAgent();
  await agent.publishInventory(1, [device(1)]);
  await agent.waitForAck(1);
});

afterAll(async () => {
  await agent?.close();
  await cp?.stop();
});

describe('POST /agents/:id/revoke', () => {
  it('marks the agent revoked, audits it, and is idempotent', async () => {
    const revoked = await expectOk(session.api.post(`/agents/${agent.identity.agentId}/revoke`));
    expect(revoked).toMatchObject({ id: agent.identity.agentId, status: 'revoked' });
    expect(revoked.revokedAt).not.toBeNull();
    const again = await expectOk(session.api.post(`/agents/${agent.identity.agentId}/revoke`));
    expect(again.revokedAt).toBe(revoked.revokedAt);
    const owner = await cp.owner();
    try {
      const { rows } = await owner.query(
        `SELECT count(*)::int AS n FROM audit_entries WHERE action = 'agent.revoke' AND target_id = $1`,
        [agent.identity.agentId],
      );
      expect(rows[0].n).toBe(1);
    } finally {
      await owner.end();
    }
  });

  it('its messages are refused and nothing of them is applied', async () => {
    if (!realBroker) {
      // The embedded broker closed the connection when the agent was revoked, and refuses it again.
      await eventually(async () => !agent.mqtt.connected);
      await expect(connectAgent(agent.identity)).rejects.toThrow();
    } else {
      await agent.publishInventory(2, [device(2, { vendor: 'After revocation' })]);
      await eventually(async () => {
        const letters = await expectOk(session.api.get(`/dead-letters?tenantId=${session.tenant.id}`));
        return letters.items.some(
          (d: { reason: string; seq: number }) => d.reason === 'UNKNOWN_AGENT' && d.seq === 2,
        );
      });
    }
    const devices = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
    expect(devices.items.map((d: { mac: string }) => d.mac)).toEqual([device(1).mac]);
    expect(await expectOk(session.api.get(`/agents/${agent.identity.agentId}`))).toMatchObject({
      ackedSeq: 1,
    });
  });

  it('its secret no longer opens AgentSync', async () => {
    const sync = agentSyncClient(cp.grpcAddress);
    try {
      await expect(
        sync.upload([
          {
            agentId: agent.identity.agentId,
            agentSecret: agent.identity.mqtt.password,
            seq: 3,
            chunkIndex: 0,
            last: true,
            devicesJson: Buffer.from(JSON.stringify([device(3)])),
            sentAt: new Date().toISOString(),
          },
        ]),
      ).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    } finally {
      sync.close();
    }
  });

  it('another organization cannot revoke it (404)', async () => {
    const other = await createTenantSession(cp);
    const fresh = await other.enrollAgent();
    try {
      const { OrganizationService } = await import('../src/modules/organizations/organization.service.js');
      const outsider = await cp.app.get(OrganizationService).create('Revoker MSP', `revoker-${Date.now()}`);
      const response = await session.api
        .withKey(outsider.apiKey.token)
        .post(`/agents/${fresh.identity.agentId}/revoke`);
      expect(response).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
      expect(await expectOk(other.api.get(`/agents/${fresh.identity.agentId}`))).toMatchObject({
        revokedAt: null,
      });
    } finally {
      await fresh.close();
    }
  });
});
