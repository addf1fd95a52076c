/**
 * From a campaign and the devices it targets to the planner's input: which devices, in which wave, with which
 * durations. Pure functions; the service loads the rows and calls the scheduling library.
 */
import { DAY_MS, HOUR_MS, MINUTE_MS, type PlanJob, type PlanOptions } from '@medfleet/scheduling';
import type { CampaignDefinition, TargetDevice } from './campaign.repository.js';
import { inFirmwareRange } from './version-range.util.js';

/** The devices the target reaches: vendor and models were filtered in SQL, the firmware range here. */
export function matchingDevices(
  definition: CampaignDefinition,
  devices: readonly TargetDevice[],
): TargetDevice[] {
  return devices.filter((device) => inFirmwareRange(device.firmwareVersion, definition.target.firmware));
}

/** 32-bit FNV-1a: a stable, well-spread order of devices for the percentage waves. */
function spread(id: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index++) {
    hash ^= id.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The wave of each device (by device id). A canary wave takes the devices at its sites and the devices it names;
 * the percentage waves share the rest in a stable pseudo-random order (so a wave spans many sites and practices),
 * each taking its share of the remainder, the last one everything left.
 */
export function assignWaves(
  waves: CampaignDefinition['waves'],
  devices: readonly TargetDevice[],
): Map<string, number> {
  const assigned = new Map<string, number>();
  waves.forEach((wave, index) => {
    if (!wave.canarySiteIds && !wave.canaryDeviceIds) return;
    const sites = new Set(wave.canarySiteIds ?? []);
    const named = new Set(wave.canaryDeviceIds ?? []);
    for (const device of devices) {
      if (!assigned.has(device.id) && (sites.has(device.siteId) || named.has(device.id))) {
        assigned.set(device.id, index);
      }
    }
  });
  // The sort key is computed once per device, not once per comparison.
  const rest = devices
    .filter((device) => !assigned.has(device.id))
    .map((device) => ({ id: device.id, key: spread(device.id) }))
    .sort((a, b) => a.key - b.key || (a.id < b.id ? -1 : 1));
  const percentWaves = waves
    .map((wave, index) => ({ index, percent: wave.percent }))
    .filter((wave): wave is { index: number; percent: number } => wave.percent !== undefined);
  let taken = 0;
  let cumulative = 0;
  percentWaves.forEach((wave, position) => {
    cumulative += wave.percent;
    const until =
      position === percentWaves.length - 1 ? rest.length : Math.floor((rest.length * cumulative) / 100);
    for (; taken < until; taken++) assigned.set((rest[taken] as { id: string }).id, wave.index);
  });
  return assigned;
}

/** The planner's jobs: one per device, id = device id, model compared case-insensitively. */
export function planJobs(devices: readonly TargetDevice[], waves: Map<string, number>): PlanJob[] {
  return devices.map((device) => ({
    id: device.id,
    siteId: device.siteId,
    model: (device.model ?? '').toLowerCase(),
    wave: waves.get(device.id) ?? 0,
  }));
}

export function planOptions(definition: CampaignDefinition, nowMs: number): PlanOptions {
  const earliestStart = Math.max(nowMs, definition.earliestStart?.getTime() ?? nowMs);
  const byModel: Record<string, number> = {};
  for (const [model, minutes] of Object.entries(definition.durations.minutesByModel)) {
    byModel[model.toLowerCase()] = minutes * MINUTE_MS;
  }
  return {
    earliestStart,
    horizonEnd: earliestStart + definition.horizonDays * DAY_MS,
    durations: {
      byModel,
      ...(definition.durations.defaultMinutes !== undefined
        ? { defaultMs: definition.durations.defaultMinutes * MINUTE_MS }
        : {}),
      marginRatio: (definition.durations.marginPercent ?? 0) / 100,
      marginMs: (definition.durations.marginMinutes ?? 0) * MINUTE_MS,
    },
    waves: definition.waves.map((wave, index) => ({
      wave: index,
      soakMs: Math.round((wave.soakHours ?? 0) * HOUR_MS),
    })),
  };
}

/** The definition's own consistency (the DTO checked the types): every problem, empty when sound. */
export function definitionProblems(definition: CampaignDefinition): string[] {
  const problems: string[] = [];
  if ((definition.artifact === null) === (definition.procedure === null)) {
    problems.push('a campaign has either an artifact or a procedure');
  }
  let percent = 0;
  definition.waves.forEach((wave, index) => {
    const canary = wave.canarySiteIds !== undefined || wave.canaryDeviceIds !== undefined;
    if (canary && index !== 0) problems.push(`waves[${index}]: only the first wave may be a canary`);
    if (canary && wave.percent !== undefined) {
      problems.push(`waves[${index}]: a wave is a canary or a percentage, not both`);
    }
    if (!canary && wave.percent === undefined) {
      problems.push(`waves[${index}]: needs canarySiteIds, canaryDeviceIds or percent`);
    }
    percent += wave.percent ?? 0;
  });
  if (percent !== 100) problems.push(`the percentage waves must add up to 100, not ${percent}`);
  const siteIds = new Set(definition.siteIds);
  for (const siteId of definition.waves[0]?.canarySiteIds ?? []) {
    if (siteIds.size > 0 && !siteIds.has(siteId)) {
      problems.push(`canary site ${siteId} is not among the campaign's sites`);
    }
  }
  return problems;
}
