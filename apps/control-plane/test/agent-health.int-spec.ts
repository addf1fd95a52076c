// Agent health end to end: acks carry the control plane's times, the real agent turns them into a clock
// offset, and the latest health report (vitals, outbox, collectors, config version) is kept and shown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollAgentProcess, type AgentProcess } from './support/edge-agent-process.js';
import {
  createTenantSession,
  device,
  eventually,
  expectOk,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;
let agent: AgentProcess;

beforeAll(async () => {
  cp = await startTestControlPlane({ AGENT_HEALTH_INTERVAL_SEC: '1' });
  session = await createTenantSession(cp);
  agent = await enrollAgentProcess(cp.grpcAddress, await session.createToken());
});

afterAll(async () => {
  await agent?.remove();
  await cp?.stop();
});

describe('agent health', () => {
  it('acks name the message they answer, when it arrived and when the ack left', async () => {
    const client = await session.enrollAgent();
    try {
      const before = Date.now();
      await client.publishInventory(1, [device(1)]);
      const ack = await client.waitForAck(1);
      expect(ack.body).toMatchObject({ ackedSeq: 1, forSeq: 1, receivedAt: expect.any(String) });
      const receivedAt = Date.parse(ack.body.receivedAt as string);
      expect(receivedAt).toBeGreaterThanOrEqual(before - 1_000);
      expect(Date.parse(ack.sentAt)).toBeGreaterThanOrEqual(receivedAt);
    } finally {
      await client.close();
    }
  });

  it('keeps the latest report of the real agent and shows it with the agent', async () => {
    await agent.start();
    // Same machine, same clock: the estimate must land near zero once acks have timed a few messages.
    const shown = await eventually(async () => {
      const view = await expectOk(session.api.get(`/agents/${agent.agentId}`));
      return typeof view.lastHealth?.clockOffsetMs === 'number' ? view : null;
    });
    const health = shown.lastHealth;
    expect(Math.abs(health.clockOffsetMs)).toBeLessThan(Math.max(250, health.clockRttMs));
    expect(health).toMatchObject({
      agentVersion: expect.any(String),
      uptimeSec: expect.any(Number),
      hostUptimeSec: expect.any(Number),
      cpuPercent: expect.any(Number),
      memoryRssBytes: expect.any(Number),
      memoryTotalBytes: expect.any(Number),
      diskFreeBytes: expect.any(Number),
      diskTotalBytes: expect.any(Number),
      outboxDepth: expect.any(Number),
      lastAckedSeq: expect.any(Number),
      configVersion: 0,
    });
    expect(health.lastAckedSeq).toBeGreaterThan(0);
    expect(health.collectors).toContainEqual(
      expect.objectContaining({
        name: 'inventory',
        enabled: true,
        running: true,
        lastRunAt: expect.any(String),
      }),
    );
    expect(health.collectors).toContainEqual(
      expect.objectContaining({ name: 'snmp_poll', enabled: false, running: false }),
    );
    expect(Date.parse(shown.lastHealthAt)).toBeGreaterThan(Date.now() - 30_000);
    // A newer report replaces it.
    const seenAt = Date.parse(shown.lastHealthAt);
    await eventually(async () => {
      const view = await expectOk(session.api.get(`/agents/${agent.agentId}`));
      return Date.parse(view.lastHealthAt) > seenAt && view.lastHealth.uptimeSec >= health.uptimeSec;
    });
  });
});
