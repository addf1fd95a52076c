/** The agent's own health report: process and host vitals plus the delivery state the control plane watches. */
import fs from 'node:fs/promises';
import os from 'node:os';
import type { HealthBody } from '@medfleet/contracts';
import { AGENT_VERSION } from './version.js';

export interface DeliveryVitals {
  outboxDepth: number;
  lastAckedSeq: number;
  devicesKnown: number;
}

/** CPU time used between two samples as a percentage of one core (so 4 busy cores read 400). */
export function cpuPercent(usedMicros: NodeJS.CpuUsage, elapsedMicros: number): number {
  if (!(elapsedMicros > 0)) return 0;
  const percent = ((usedMicros.user + usedMicros.system) / elapsedMicros) * 100;
  return Math.min(100 * 256, Math.max(0, Math.round(percent * 100) / 100));
}

export class HealthSampler {
  private readonly startedAt = performance.now();
  private lastCpu = process.cpuUsage();
  private lastSampleAt = this.startedAt;

  /** `diskPath` is where free space matters: the state directory (and later the durable outbox). */
  constructor(private readonly diskPath: string) {}

  async sample(vitals: DeliveryVitals): Promise<HealthBody> {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedMicros = (now - this.lastSampleAt) * 1000;
    this.lastCpu = process.cpuUsage();
    this.lastSampleAt = now;
    const diskFreeBytes = await this.diskFreeBytes();
    return {
      agentVersion: AGENT_VERSION,
      uptimeSec: Math.floor((now - this.startedAt) / 1000),
      cpuPercent: cpuPercent(cpu, elapsedMicros),
      memoryRssBytes: process.memoryUsage.rss(),
      loadAverage: os.loadavg().map((load) => Math.max(0, load)),
      ...(diskFreeBytes === undefined ? {} : { diskFreeBytes }),
      outboxDepth: vitals.outboxDepth,
      lastAckedSeq: vitals.lastAckedSeq,
      devicesKnown: vitals.devicesKnown,
    };
  }

  private async diskFreeBytes(): Promise<number | undefined> {
    try {
      const stats = await fs.statfs(this.diskPath);
      return stats.bavail * stats.bsize;
    } catch {
      return undefined;
    }
  }
}
