/**
 * The agent's collectors: named periodic tasks that a remote config switches on and off and re-times
 * without a restart. Each keeps what the health report shows: enabled, running, last run, last error.
 */
import { COLLECTOR_NAMES, type CollectorName, type CollectorState } from '@medfleet/contracts';

/** Collectors this agent version implements; enabling another is refused (UNSUPPORTED_COLLECTOR). */
export const SUPPORTED_COLLECTORS: readonly CollectorName[] = ['inventory'];

export type CollectorRun = () => Promise<void>;

interface Entry {
  enabled: boolean;
  intervalSec: number;
  run?: CollectorRun;
  timer?: NodeJS.Timeout;
  lastRunAt?: Date;
  lastError?: string;
  busy: boolean;
}

export class Collectors {
  private readonly entries = new Map<CollectorName, Entry>();
  private active = false;

  constructor(private readonly runners: Partial<Record<CollectorName, CollectorRun>>) {
    for (const name of COLLECTOR_NAMES) {
      this.entries.set(name, { enabled: false, intervalSec: 0, busy: false, run: runners[name] });
    }
  }

  /**
   * Sets a collector's schedule. A change of state or interval restarts its timer; an enabled one runs at
   * once when it starts (or is re-timed), so a new interval shows without waiting a whole old period.
   */
  configure(name: CollectorName, enabled: boolean, intervalSec: number): void {
    const entry = this.entries.get(name) as Entry;
    const changed = entry.enabled !== enabled || entry.intervalSec !== intervalSec;
    entry.enabled = enabled;
    entry.intervalSec = intervalSec;
    if (changed && this.active) this.schedule(name, entry, true);
  }

  /** Starts every enabled collector; each runs once now. */
  start(): void {
    this.active = true;
    for (const [name, entry] of this.entries) this.schedule(name, entry, true);
  }

  stop(): void {
    this.active = false;
    for (const entry of this.entries.values()) {
      clearInterval(entry.timer);
      entry.timer = undefined;
    }
  }

  isRunning(name: CollectorName): boolean {
    return this.entries.get(name)?.timer !== undefined;
  }

  /** Runs one collector now (also when its timer is off); errors are kept, never thrown. */
  async runNow(name: CollectorName): Promise<void> {
    const entry = this.entries.get(name) as Entry;
    if (!entry.run || entry.busy) return;
    entry.busy = true;
    entry.lastRunAt = new Date();
    try {
      await entry.run();
      delete entry.lastError;
    } catch (error) {
      entry.lastError = (error instanceof Error ? error.message : String(error)).slice(0, 500) || 'failed';
    } finally {
      entry.busy = false;
    }
  }

  states(): CollectorState[] {
    return COLLECTOR_NAMES.map((name) => {
      const entry = this.entries.get(name) as Entry;
      return {
        name,
        enabled: entry.enabled,
        running: entry.timer !== undefined,
        ...(entry.lastRunAt ? { lastRunAt: entry.lastRunAt.toISOString() } : {}),
        ...(entry.lastError ? { lastError: entry.lastError } : {}),
      };
    });
  }

  private schedule(name: CollectorName, entry: Entry, runNow: boolean): void {
    clearInterval(entry.timer);
    entry.timer = undefined;
    if (!this.active || !entry.enabled || !entry.run || entry.intervalSec <= 0) return;
    entry.timer = setInterval(() => void this.runNow(name), entry.intervalSec * 1000);
    if (runNow) void this.runNow(name);
  }
}
