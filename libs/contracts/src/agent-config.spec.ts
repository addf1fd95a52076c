import { describe, expect, it } from 'vitest';
import {
  agentConfigSchema,
  collectorEnabled,
  configRejectedBodySchema,
  defaultMaintenancePolicy,
  healthBodySchema,
  ackBodySchema,
  isIanaTimeZone,
  type AgentConfigBody,
} from './index.js';

const config = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  version: 2,
  inventoryIntervalSec: 300,
  healthIntervalSec: 60,
  collectors: { inventory: { enabled: true } },
  maintenance: defaultMaintenancePolicy('America/New_York'),
  ...patch,
});

const issuesOf = (value: unknown) => {
  const result = agentConfigSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
};

describe('agent config', () => {
  it('accepts a config with the default maintenance policy: every day 22:00–05:00 site-local', () => {
    const parsed = agentConfigSchema.parse(config()) as AgentConfigBody;
    expect(parsed.maintenance).toEqual({
      timeZone: 'America/New_York',
      windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '05:00' }],
    });
  });

  it('accepts a site closed to maintenance, 24-hour windows and the blackouts that reach the site', () => {
    const maintenance = {
      timeZone: 'America/New_York',
      windows: [{ days: ['sat' as const], start: '00:00', end: '00:00' }],
      blackouts: [
        {
          kind: 'interval' as const,
          id: 'freeze',
          start: '2026-09-14T12:00:00Z',
          end: '2026-09-17T12:00:00Z',
        },
        { kind: 'local-dates' as const, id: 'xmas', firstDate: '2026-12-24', lastDate: '2026-12-25' },
      ],
    };
    expect(agentConfigSchema.parse(config({ maintenance })).maintenance).toEqual(maintenance);
    const closed = { timeZone: 'UTC', windows: [] };
    expect(agentConfigSchema.parse(config({ maintenance: closed })).maintenance).toEqual(closed);
  });

  it.each([
    [{ version: 0 }, 'version'],
    [{ version: 1.5 }, 'version'],
    [{ healthIntervalSec: 0 }, 'healthIntervalSec'],
    [{ inventoryIntervalSec: 86_401 }, 'inventoryIntervalSec'],
    [{ healthIntervalSec: '60' }, 'healthIntervalSec'],
    [{ collectors: { bluetooth_sniffer: { enabled: true } } }, 'collectors'],
    [{ collectors: { inventory: { enabled: 'yes' } } }, 'collectors.inventory.enabled'],
    [{ collectors: { inventory: { enabled: true, extra: 1 } } }, 'collectors.inventory'],
    [{ maintenance: { timeZone: 'Mars/Olympus_Mons', windows: [] } }, 'maintenance.timeZone'],
    [
      { maintenance: { timeZone: '+05:00', windows: [{ days: ['mon'], start: '22:00', end: '05:00' }] } },
      'maintenance.timeZone',
    ],
    [
      {
        maintenance: {
          timeZone: 'UTC',
          windows: Array.from({ length: 15 }, () => ({ days: ['mon'], start: '22:00', end: '05:00' })),
        },
      },
      'maintenance.windows',
    ],
    [
      { maintenance: { timeZone: 'UTC', windows: [{ days: ['mon'], start: '24:00', end: '05:00' }] } },
      'maintenance.windows.0.start',
    ],
    [
      {
        maintenance: {
          timeZone: 'UTC',
          windows: [],
          blackouts: [
            { kind: 'interval', id: 'b', start: '2026-09-14T12:00:00Z', end: '2026-09-14T12:00:00Z' },
          ],
        },
      },
      'maintenance.blackouts.0',
    ],
    [
      {
        maintenance: {
          timeZone: 'UTC',
          windows: [],
          blackouts: [{ kind: 'local-dates', id: 'b', firstDate: '2026-12-25', lastDate: '2026-12-24' }],
        },
      },
      'maintenance.blackouts.0',
    ],
    [
      {
        maintenance: {
          timeZone: 'UTC',
          windows: [],
          blackouts: [{ kind: 'holiday', id: 'b', firstDate: '2026-12-25', lastDate: '2026-12-25' }],
        },
      },
      'maintenance.blackouts.0.kind',
    ],
    [
      { maintenance: { timeZone: 'UTC', windows: [{ days: ['mon', 'mon'], start: '1:00', end: '05:00' }] } },
      'maintenance.windows.0.days',
    ],
    [
      { maintenance: { timeZone: 'UTC', windows: [{ days: ['monday'], start: '01:00', end: '05:00' }] } },
      'maintenance.windows.0.days.0',
    ],
    [{ unexpected: true }, ''],
  ])('refuses %j', (patch, path) => {
    expect(issuesOf(config(patch))).toContain(path);
  });

  it('knows IANA zones, not offsets or abbreviations', () => {
    expect(isIanaTimeZone('America/New_York')).toBe(true);
    expect(isIanaTimeZone('UTC')).toBe(true);
    expect(isIanaTimeZone('EST5EDT ')).toBe(false);
    expect(isIanaTimeZone('+01:00')).toBe(false);
  });

  it('turns inventory on unless told otherwise, everything else off', () => {
    expect(collectorEnabled({}, 'inventory')).toBe(true);
    expect(collectorEnabled({ inventory: { enabled: false } }, 'inventory')).toBe(false);
    expect(collectorEnabled({}, 'snmp_poll')).toBe(false);
    expect(collectorEnabled({ snmp_poll: { enabled: true } }, 'snmp_poll')).toBe(true);
  });

  it('a rejection names its reason from the closed list', () => {
    const body = {
      version: 3,
      keptVersion: 2,
      reason: 'SCHEMA_INVALID',
      detail: 'healthIntervalSec: too small',
      rejectedAt: '2026-11-03T14:05:00Z',
    };
    expect(configRejectedBodySchema.safeParse(body).success).toBe(true);
    expect(configRejectedBodySchema.safeParse({ ...body, reason: 'BECAUSE' }).success).toBe(false);
    expect(configRejectedBodySchema.safeParse({ ...body, detail: '' }).success).toBe(false);
  });
});

describe('compatible additions to health and ack', () => {
  const minimalHealth = {
    agentVersion: '0.1.0',
    uptimeSec: 1,
    cpuPercent: 0,
    memoryRssBytes: 1,
    loadAverage: [0, 0, 0],
    outboxDepth: 0,
    lastAckedSeq: 0,
    devicesKnown: 0,
  };

  it('reports from agents without the new fields still decode', () => {
    expect(healthBodySchema.safeParse(minimalHealth).success).toBe(true);
    expect(ackBodySchema.safeParse({ ackedSeq: 4 }).success).toBe(true);
  });

  it.each([
    { clockOffsetMs: 11 * 365 * 24 * 3600 * 1000 },
    { outboxOldestAgeSec: -1 },
    { hostCpuPercent: 101 },
    { configVersion: -1 },
    { collectors: [{ name: 'inventory', enabled: true }] },
    { collectors: [{ name: 'inventory', enabled: true, running: true, lastError: '' }] },
  ])('refuses a health report with %j', (patch) => {
    expect(healthBodySchema.safeParse({ ...minimalHealth, ...patch }).success).toBe(false);
  });

  it('refuses an ack whose server time is not a timestamp', () => {
    expect(ackBodySchema.safeParse({ ackedSeq: 4, forSeq: 4, receivedAt: 'now' }).success).toBe(false);
    expect(ackBodySchema.safeParse({ ackedSeq: 4, forSeq: 0 }).success).toBe(false);
  });
});
