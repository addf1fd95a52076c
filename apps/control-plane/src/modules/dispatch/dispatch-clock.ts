/** The dispatcher's "now": the system clock, unless a test (or a demo) sets it. */
import { Injectable } from '@nestjs/common';

@Injectable()
export class DispatchClock {
  private fixed: Date | null = null;

  now(): Date {
    return this.fixed ? new Date(this.fixed) : new Date();
  }

  /** Sets the time the dispatcher sees; null goes back to the system clock. */
  set(instant: Date | null): void {
    this.fixed = instant ? new Date(instant) : null;
  }
}
