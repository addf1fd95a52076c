import { describe, expect, it } from 'vitest';
import { assignWaves, definitionProblems, planOptions } from './campaign-plan.js';
import type { CampaignDefinition, TargetDevice } from './campaign.repository.js';

const devices: TargetDevice[] = Array.from({ length: 100 }, (_, index) => ({
  tenantId: 't',
  id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
  siteId: index < 10 ? 'canary-site' : `site-${index % 7}`,
  vendor: 'BD',
  model: 'Pump',
  firmwareVersion: '1.0',
}));

const definition = (waves: CampaignDefinition['waves']): CampaignDefinition => ({
  name: 'c',
  description: null,
  tenantIds: ['t'],
  siteIds: [],
  target: { vendor: 'BD' },
  artifact: { version: '2', sha256: 'a'.repeat(64), signature: 'c2ln', sizeBytes: 1 },
  procedure: null,
  waves,
  abortPolicy: { failurePercent: 10, minExecuted: 5 },
  catchUp: { mode: 'next-window' },
  durations: { minutesByModel: { Pump: 10 }, marginPercent: 50, marginMinutes: 1 },
  earliestStart: null,
  horizonDays: 7,
});

describe('assignWaves', () => {
  it('puts the canary site first and splits the rest by percentage, every device exactly once', () => {
    const waves = assignWaves(
      [
        {
          canarySiteIds: ['canary-site'],
          canaryDeviceIds: [devices[50]?.id as string],
          successRatePercent: 95,
        },
        { percent: 25, successRatePercent: 95 },
        { percent: 75, successRatePercent: 95 },
      ],
      devices,
    );
    const count = (wave: number) => [...waves.values()].filter((value) => value === wave).length;
    expect(waves.size).toBe(100);
    expect(count(0)).toBe(11);
    expect(count(1)).toBe(Math.floor(89 * 0.25));
    expect(count(2)).toBe(89 - Math.floor(89 * 0.25));
    expect(devices.slice(0, 10).every((device) => waves.get(device.id) === 0)).toBe(true);
  });

  it('is deterministic whatever the order of the devices', () => {
    const waves: CampaignDefinition['waves'] = [
      { percent: 50, successRatePercent: 95 },
      { percent: 50, successRatePercent: 95 },
    ];
    expect([...assignWaves(waves, [...devices].reverse())].sort()).toEqual(
      [...assignWaves(waves, devices)].sort(),
    );
  });
});

describe('definitionProblems', () => {
  it('accepts a canary then percentages adding up to 100', () => {
    expect(
      definitionProblems(
        definition([
          { canarySiteIds: ['s'], successRatePercent: 95 },
          { percent: 100, successRatePercent: 95 },
        ]),
      ),
    ).toEqual([]);
  });

  it('lists every problem', () => {
    const problems = definitionProblems({
      ...definition([
        { percent: 30, successRatePercent: 95 },
        { canarySiteIds: ['s'], percent: 20, successRatePercent: 95 },
        { successRatePercent: 95 },
      ]),
      procedure: { title: 't', steps: ['s'] },
    });
    expect(problems).toHaveLength(5);
  });
});

describe('planOptions', () => {
  it('turns minutes and margins into the planner’s milliseconds, models compared in lower case', () => {
    const options = planOptions(
      definition([{ percent: 100, soakHours: 1.5, successRatePercent: 95 }]),
      1_000,
    );
    expect(options.durations).toEqual({ byModel: { pump: 600_000 }, marginRatio: 0.5, marginMs: 60_000 });
    expect(options.waves).toEqual([{ wave: 0, soakMs: 5_400_000 }]);
    expect(options.earliestStart).toBe(1_000);
    expect(options.horizonEnd).toBe(1_000 + 7 * 86_400_000);
  });
});
