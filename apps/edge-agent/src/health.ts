/** The agent's own health report: process and host vitals plus the delivery state the control plane watches. */
import fs from 'node:fs/promises';
import os from 'node:os';
import type { CollectorState, HealthBody } from '@medfleet/contracts';
import type { ClockSample } from './clock.js';
import { AGENT_VERSION } from './version.js';

export interface DeliveryVitals {
  outboxDepth: number;
  lastAckedSeq: number;
  devicesKnown: number;
  /** When the oldest unacknowledged message was made (its envelope `sentAt`), if any waits. */
  oldestPendingAt?: Date;
  clock?: ClockSample;
  collectors?: CollectorState[];
  configVersion?: number;
}

/** CPU time used between two samples as a percentage of one core (so 4 busy cores read 400). */
export function cpuPercent(usedMicros: NodeJS.CpuUsage, elapsedMicros: number): number {
  if (!(elapsedMicros > 0)) return 0;
  const percent = ((usedMicros.user + usedMicros.system) / elapsedMicros) * 100;
  return Math.min(100 * 256, Math.max(0, Math.round(percent * 100) / 100));
}

interface CpuTimes {
  busy: number;
  total: number;
}

function hostCpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const { user, nice, sys, irq, idle } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total };
}

/** Busy share of all cores between two readings of the host's CPU times, 0–100. */
export function hostCpuPercent(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.total - before.total;
  if (!(total > 0)) return undefined;
  const percent = ((after.busy - before.busy) / total) * 100;
  return Math.min(100, Math.max(0, Math.round(percent * 100) / 100));
}

/** Seconds since `since`, never negative (a clock stepped back reads 0). */
export function ageSec(since: Date, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - since.getTime()) / 100) / 10);
}

export class HealthSampler {
  private readonly startedAt = performance.now();
  private lastCpu = process.cpuUsage();
  private lastHostCpu = hostCpuTimes();
  private lastSampleAt = this.startedAt;

  /** `diskPath` is where free space matters: the state directory (and the durable outbox). */
  constructor(
    private readonly diskPath: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sample(vitals: DeliveryVitals): Promise<HealthBody> {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedMicros = (now - this.lastSampleAt) * 1000;
    this.lastCpu = process.cpuUsage();
    this.lastSampleAt = now;
    const hostCpu = hostCpuTimes();
    const hostCpuBusy = hostCpuPercent(this.lastHostCpu, hostCpu);
    this.lastHostCpu = hostCpu;
    const disk = await this.disk();
    return {
      agentVersion: AGENT_VERSION,
      uptimeSec: Math.floor((now - this.startedAt) / 1000),
      hostUptimeSec: Math.max(0, Math.floor(os.uptime())),
      cpuPercent: cpuPercent(cpu, elapsedMicros),
      ...(hostCpuBusy === undefined ? {} : { hostCpuPercent: hostCpuBusy }),
      memoryRssBytes: process.memoryUsage.rss(),
      memoryTotalBytes: os.totalmem(),
      memoryAvailableBytes: os.freemem(),
      loadAverage: os.loadavg().map((load) => Math.max(0, load)),
      ...(disk ?? {}),
      ...(vitals.clock ? { clockOffsetMs: vitals.clock.offsetMs, clockRttMs: vitals.clock.rttMs } : {}),
      outboxDepth: vitals.outboxDepth,
      ...(vitals.oldestPendingAt && vitals.outboxDepth > 0
        ? { outboxOldestAgeSec: ageSec(vitals.oldestPendingAt, this.now()) }
        : {}),
      lastAckedSeq: vitals.lastAckedSeq,
      devicesKnown: vitals.devicesKnown,
      ...(vitals.collectors ? { collectors: vitals.collectors } : {}),
      ...(vitals.configVersion === undefined ? {} : { configVersion: vitals.configVersion }),
    };
  }

  private async disk(): Promise<{ diskFreeBytes: number; diskTotalBytes: number } | undefined> {
    try {
      const stats = await fs.statfs(this.diskPath);
      return { diskFreeBytes: stats.bavail * stats.bsize, diskTotalBytes: stats.blocks * stats.bsize };
    } catch {
      return undefined;
    }
  }
}
