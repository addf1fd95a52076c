import { agentConfigSchema } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import { policyCopy } from './policy-copy.js';

const NOW = Date.parse('2026-12-04T17:00:00Z');

describe("the agent's copy of its site's policy", () => {
  it('is the default 22:00–05:00 every night for a site without a policy of its own', () => {
    expect(policyCopy({ id: 's', timeZone: 'America/New_York' }, NOW)).toEqual({
      timeZone: 'America/New_York',
      windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '05:00' }],
    });
  });

  it('groups the nights by their times: weekday overrides, inherited times, nights without a window', () => {
    const copy = policyCopy(
      {
        id: 's',
        timeZone: 'America/Chicago',
        policy: {
          window: { start: '21:00', end: '06:00' },
          weekdays: { thu: { start: '23:00' }, sat: { start: '18:00', end: '18:00' }, sun: null },
          maxConcurrentJobs: 4,
        },
      },
      NOW,
    );
    expect(copy).toEqual({
      timeZone: 'America/Chicago',
      windows: [
        { days: ['mon', 'tue', 'wed', 'fri'], start: '21:00', end: '06:00' },
        { days: ['thu'], start: '23:00', end: '06:00' },
        { days: ['sat'], start: '18:00', end: '18:00' },
      ],
    });
    // What the control plane sends, the contract takes.
    expect(() =>
      agentConfigSchema.parse({
        version: 1,
        inventoryIntervalSec: 300,
        healthIntervalSec: 60,
        collectors: {},
        maintenance: copy,
      }),
    ).not.toThrow();
  });

  it('carries the blackouts not over yet, soonest first, and drops those that are', () => {
    const copy = policyCopy(
      {
        id: 's',
        timeZone: 'America/New_York',
        policy: { weekdays: { mon: null, tue: null, wed: null, thu: null, fri: null, sat: null, sun: null } },
        blackouts: [
          { kind: 'local-dates', id: 'xmas', firstDate: '2026-12-24', lastDate: '2026-12-25' },
          {
            kind: 'interval',
            id: 'freeze',
            start: '2026-12-05T12:00:00Z',
            end: Date.parse('2026-12-08T12:00:00Z'),
          },
          { kind: 'interval', id: 'past', start: '2026-11-01T00:00:00Z', end: '2026-11-02T00:00:00Z' },
          { kind: 'local-dates', id: 'thanksgiving', firstDate: '2026-11-26', lastDate: '2026-11-26' },
        ],
      },
      NOW,
    );
    expect(copy).toEqual({
      timeZone: 'America/New_York',
      windows: [],
      blackouts: [
        {
          kind: 'interval',
          id: 'freeze',
          start: '2026-12-05T12:00:00.000Z',
          end: '2026-12-08T12:00:00.000Z',
        },
        { kind: 'local-dates', id: 'xmas', firstDate: '2026-12-24', lastDate: '2026-12-25' },
      ],
    });
  });
});
