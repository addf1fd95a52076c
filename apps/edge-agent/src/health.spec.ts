import { healthBodySchema } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import { cpuPercent, HealthSampler } from './health.js';
import { AGENT_VERSION } from './version.js';

describe('health', () => {
  it('samples a report that satisfies the contract', async () => {
    const sampler = new HealthSampler(process.cwd());
    const body = await sampler.sample({ outboxDepth: 3, lastAckedSeq: 7, devicesKnown: 24 });
    expect(healthBodySchema.parse(body)).toEqual(body);
    expect(body).toMatchObject({
      agentVersion: AGENT_VERSION,
      outboxDepth: 3,
      lastAckedSeq: 7,
      devicesKnown: 24,
    });
    expect(body.diskFreeBytes).toBeGreaterThan(0);
    expect(body.memoryRssBytes).toBeGreaterThan(0);
  });

  it('carries host vitals, clock offset, outbox age, collectors and config version', async () => {
    const now = new Date('2026-11-03T03:16:30.000Z');
    const sampler = new HealthSampler(process.cwd(), () => now);
    const body = await sampler.sample({
      outboxDepth: 2,
      lastAckedSeq: 7,
      devicesKnown: 24,
      oldestPendingAt: new Date('2026-11-03T03:15:00.000Z'),
      clock: { offsetMs: -1250.5, rttMs: 18 },
      collectors: [{ name: 'inventory', enabled: true, running: true }],
      configVersion: 3,
    });
    expect(healthBodySchema.parse(body)).toEqual(body);
    expect(body).toMatchObject({
      outboxOldestAgeSec: 90,
      clockOffsetMs: -1250.5,
      clockRttMs: 18,
      configVersion: 3,
      collectors: [{ name: 'inventory', enabled: true, running: true }],
    });
    expect(body.memoryTotalBytes).toBeGreaterThan(0);
    expect(body.diskTotalBytes).toBeGreaterThanOrEqual(body.diskFreeBytes ?? 0);
    expect(body.hostUptimeSec).toBeGreaterThan(0);
  });

  it('leaves out the free disk space when the path cannot be measured', async () => {
    const body = await new HealthSampler('/does/not/exist').sample({
      outboxDepth: 0,
      lastAckedSeq: 0,
      devicesKnown: 0,
    });
    expect(body).not.toHaveProperty('diskFreeBytes');
    expect(body).not.toHaveProperty('diskTotalBytes');
    expect(body).not.toHaveProperty('outboxOldestAgeSec');
    expect(healthBodySchema.safeParse(body).success).toBe(true);
  });

  it('computes CPU use as a share of one core', () => {
    expect(cpuPercent({ user: 150_000, system: 50_000 }, 1_000_000)).toBe(20);
    expect(cpuPercent({ user: 3_000_000, system: 0 }, 1_000_000)).toBe(300);
    expect(cpuPercent({ user: 10, system: 0 }, 0)).toBe(0);
  });
});
