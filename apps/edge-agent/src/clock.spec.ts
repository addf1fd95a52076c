import { describe, expect, it } from 'vitest';
import { ClockEstimator } from './clock.js';
import { Collectors } from './collectors.js';
import { ageSec, hostCpuPercent } from './health.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('ClockEstimator', () => {
  it('finds the offset of a server clock running 30 s ahead from one exchange', () => {
    const clock = new ClockEstimator();
    const t0 = 1_000_000;
    clock.noteSent(7, t0);
    // 20 ms each way, 5 ms in the control plane; its clock reads 30 s more than ours.
    const sample = clock.onAck(7, iso(t0 + 20 + 30_000), iso(t0 + 25 + 30_000), t0 + 45);
    expect(sample).toEqual({ offsetMs: 30_000, rttMs: 40 });
    expect(clock.estimate()).toEqual({ offsetMs: 30_000, rttMs: 40 });
  });

  it('prefers the sample with the shortest round trip and drops ones that waited too long', () => {
    const clock = new ClockEstimator({ maxRttMs: 5_000 });
    clock.noteSent(1, 0);
    clock.noteSent(2, 1_000);
    clock.noteSent(3, 2_000);
    // Seq 1 waited 600 ms on the way up (asymmetric): its offset is off by ~300 ms.
    clock.onAck(1, iso(600 - 2_000), iso(601 - 2_000), 620);
    clock.onAck(2, iso(1_010 - 2_000), iso(1_011 - 2_000), 1_021);
    // Seq 3 sat in the outbox for a minute: discarded.
    expect(clock.onAck(3, iso(62_000 - 2_000), iso(62_001 - 2_000), 62_010)).toBeUndefined();
    expect(clock.estimate()).toEqual({ offsetMs: -2_000, rttMs: 20 });
  });

  it('ignores acks without server times, for unknown seqs, and second acks of a seq', () => {
    const clock = new ClockEstimator();
    clock.noteSent(4, 100);
    expect(clock.onAck(undefined, undefined, iso(200), 300)).toBeUndefined();
    expect(clock.onAck(5, iso(150), iso(160), 300)).toBeUndefined();
    expect(clock.onAck(4, 'not a time', iso(160), 300)).toBeUndefined();
    expect(clock.onAck(4, iso(150), iso(160), 300)).toBeUndefined();
    expect(clock.estimate()).toBeUndefined();
  });

  it('forgets the oldest send times beyond its bound', () => {
    const clock = new ClockEstimator({ maxPending: 2 });
    clock.noteSent(1, 0);
    clock.noteSent(2, 0);
    clock.noteSent(3, 0);
    expect(clock.onAck(1, iso(5), iso(6), 10)).toBeUndefined();
    expect(clock.onAck(3, iso(5), iso(6), 10)).toEqual({ offsetMs: 0.5, rttMs: 9 });
  });
});

describe('health helpers', () => {
  it('ages from a timestamp, never negative', () => {
    expect(ageSec(new Date(1_000), new Date(62_345))).toBe(61.3);
    expect(ageSec(new Date(5_000), new Date(1_000))).toBe(0);
  });

  it('computes host CPU busy share between two readings', () => {
    expect(hostCpuPercent({ busy: 100, total: 1_000 }, { busy: 350, total: 2_000 })).toBe(25);
    expect(hostCpuPercent({ busy: 100, total: 1_000 }, { busy: 100, total: 1_000 })).toBeUndefined();
  });
});

describe('Collectors', () => {
  it('runs an enabled collector at start and on its interval, keeps its last error, and stops when disabled', async () => {
    let runs = 0;
    let fail = false;
    const collectors = new Collectors({
      inventory: async () => {
        runs += 1;
        if (fail) throw new Error('capture device gone');
      },
    });
    collectors.configure('inventory', true, 1);
    collectors.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toBe(1);
    expect(collectors.states().find((state) => state.name === 'inventory')).toMatchObject({
      enabled: true,
      running: true,
      lastRunAt: expect.any(String),
    });
    fail = true;
    await collectors.runNow('inventory');
    expect(collectors.states()[0]?.lastError).toBe('capture device gone');
    fail = false;
    await collectors.runNow('inventory');
    expect(collectors.states()[0]).not.toHaveProperty('lastError');
    collectors.configure('inventory', false, 1);
    expect(collectors.isRunning('inventory')).toBe(false);
    expect(collectors.states()[0]).toMatchObject({ enabled: false, running: false });
    // A collector this agent does not implement is never running, whatever it is told.
    collectors.configure('snmp_poll', true, 1);
    expect(collectors.states().find((state) => state.name === 'snmp_poll')).toMatchObject({
      enabled: true,
      running: false,
    });
    collectors.stop();
  });
});
