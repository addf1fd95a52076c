import { defaultMaintenancePolicy, type MaintenancePolicy } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import { ownWindowAt } from './maintenance-window.js';

const at = (iso: string) => Date.parse(iso);

describe("the agent's own window check", () => {
  const newYork = defaultMaintenancePolicy('America/New_York');

  it('is inside 22:00–05:00 site time and outside during clinic hours', () => {
    expect(ownWindowAt(newYork, at('2026-11-04T04:00:00Z'))).toEqual({
      startMs: at('2026-11-04T03:00:00Z'),
      endMs: at('2026-11-04T10:00:00Z'),
    });
    expect(ownWindowAt(newYork, at('2026-11-03T21:00:00Z'))).toBeNull();
    // 05:00 EST is the first instant after the window.
    expect(ownWindowAt(newYork, at('2026-11-04T10:00:00Z'))).toBeNull();
    expect(ownWindowAt(newYork, at('2026-11-04T09:59:59Z'))).not.toBeNull();
  });

  it('follows DST: six hours on the spring-forward night, eight on the fall-back night', () => {
    const spring = ownWindowAt(newYork, at('2026-03-08T04:00:00Z'));
    expect(spring).not.toBeNull();
    expect(((spring?.endMs ?? 0) - (spring?.startMs ?? 0)) / 3_600_000).toBe(6);
    const fall = ownWindowAt(newYork, at('2026-11-01T04:00:00Z'));
    expect(((fall?.endMs ?? 0) - (fall?.startMs ?? 0)) / 3_600_000).toBe(8);
  });

  it('honours each configured window on its own days', () => {
    const policy: MaintenancePolicy = {
      timeZone: 'America/New_York',
      windows: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', end: '05:00' },
        { days: ['sat', 'sun'], start: '18:00', end: '07:00' },
      ],
    };
    // Saturday 7 November 2026, 19:00 EST: only the weekend window is open.
    expect(ownWindowAt(policy, at('2026-11-08T00:00:00Z'))).toEqual({
      startMs: at('2026-11-07T23:00:00Z'),
      endMs: at('2026-11-08T12:00:00Z'),
    });
    // Wednesday 4 November, 19:00 EST: the weekday window has not opened.
    expect(ownWindowAt(policy, at('2026-11-05T00:00:00Z'))).toBeNull();
    // Sunday night opening (8 November 18:00) runs into Monday 07:00.
    expect(ownWindowAt(policy, at('2026-11-09T11:30:00Z'))?.endMs).toBe(at('2026-11-09T12:00:00Z'));
  });

  it('refuses work inside the blackouts its copy carries: a freeze cuts the night, a holiday removes it', () => {
    const frozen: MaintenancePolicy = {
      ...newYork,
      blackouts: [
        { kind: 'interval', id: 'freeze', start: '2026-11-04T05:00:00Z', end: '2026-11-04T07:00:00Z' },
        { kind: 'local-dates', id: 'thanksgiving', firstDate: '2026-11-26', lastDate: '2026-11-26' },
      ],
    };
    // Before the freeze the window piece ends where it begins; inside it, no window; after it, the rest.
    expect(ownWindowAt(frozen, at('2026-11-04T04:00:00Z'))).toEqual({
      startMs: at('2026-11-04T03:00:00Z'),
      endMs: at('2026-11-04T05:00:00Z'),
    });
    expect(ownWindowAt(frozen, at('2026-11-04T06:00:00Z'))).toBeNull();
    expect(ownWindowAt(frozen, at('2026-11-04T08:00:00Z'))).toEqual({
      startMs: at('2026-11-04T07:00:00Z'),
      endMs: at('2026-11-04T10:00:00Z'),
    });
    // The night opening on Thanksgiving (22:00 EST, 26 November) is gone; the one before is not.
    expect(ownWindowAt(frozen, at('2026-11-27T04:00:00Z'))).toBeNull();
    expect(ownWindowAt(frozen, at('2026-11-26T04:00:00Z'))).not.toBeNull();
  });

  it('refuses everything when the site has no window at all', () => {
    expect(ownWindowAt({ timeZone: 'America/New_York', windows: [] }, at('2026-11-04T04:00:00Z'))).toBeNull();
  });
});
