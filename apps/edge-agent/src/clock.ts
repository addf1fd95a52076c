/**
 * Estimates the agent's clock offset against the control plane, NTP-style, from the acks it already gets:
 * t0 = when the agent sent a message (its clock), t1 = when the control plane received it and t2 = when the
 * ack left (the control plane's clock, in the ack), t3 = when the ack arrived (agent clock).
 * offset = ((t1 − t0) + (t2 − t3)) / 2, round trip = (t3 − t0) − (t2 − t1). The sample with the shortest
 * round trip among the recent ones wins (NTP's clock filter): a message that waited in the outbox or in a
 * resend inflates its round trip and is outvoted or discarded.
 */

export interface ClockSample {
  /** Control-plane clock minus agent clock, ms (positive: the agent is behind). */
  offsetMs: number;
  rttMs: number;
}

export interface ClockEstimatorOptions {
  /** Samples kept for the filter. */
  window?: number;
  /** A round trip above this says the message was not sent when recorded: the sample is dropped. */
  maxRttMs?: number;
  /** Send times remembered, newest kept. */
  maxPending?: number;
}

export class ClockEstimator {
  private readonly sentAt = new Map<number, number>();
  private samples: ClockSample[] = [];
  private readonly window: number;
  private readonly maxRttMs: number;
  private readonly maxPending: number;

  constructor(options: ClockEstimatorOptions = {}) {
    this.window = options.window ?? 8;
    this.maxRttMs = options.maxRttMs ?? 10_000;
    this.maxPending = options.maxPending ?? 1024;
  }

  /** Remembers when the message with `seq` was handed over for sending (agent clock, ms). */
  noteSent(seq: number, atMs: number): void {
    this.sentAt.set(seq, atMs);
    if (this.sentAt.size > this.maxPending) {
      const oldest = this.sentAt.keys().next().value as number;
      this.sentAt.delete(oldest);
    }
  }

  /**
   * Takes an ack's server times. `receivedAt` (t1) and `ackSentAt` (t2) are the control plane's ISO
   * timestamps; `arrivedAtMs` (t3) is the agent's clock. Returns the sample, or undefined when unusable.
   */
  onAck(
    forSeq: number | undefined,
    receivedAt: string | undefined,
    ackSentAt: string,
    arrivedAtMs: number,
  ): ClockSample | undefined {
    if (forSeq === undefined || receivedAt === undefined) return undefined;
    const t0 = this.sentAt.get(forSeq);
    if (t0 === undefined) return undefined;
    // Only the first ack of a message times it: a later one answers a resend or a replay.
    this.sentAt.delete(forSeq);
    const t1 = Date.parse(receivedAt);
    const t2 = Date.parse(ackSentAt);
    const t3 = arrivedAtMs;
    if (!Number.isFinite(t1) || !Number.isFinite(t2) || t2 < t1 || t3 < t0) return undefined;
    const rttMs = t3 - t0 - (t2 - t1);
    if (rttMs < 0 || rttMs > this.maxRttMs) return undefined;
    const sample = { offsetMs: (t1 - t0 + (t2 - t3)) / 2, rttMs };
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples = this.samples.slice(-this.window);
    return sample;
  }

  /** The best recent sample (shortest round trip), or undefined before the first. */
  estimate(): ClockSample | undefined {
    let best: ClockSample | undefined;
    for (const sample of this.samples) {
      if (!best || sample.rttMs < best.rttMs) best = sample;
    }
    return best && { offsetMs: Math.round(best.offsetMs * 10) / 10, rttMs: Math.round(best.rttMs * 10) / 10 };
  }
}
