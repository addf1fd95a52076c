/**
 * The agent's copy of its site's maintenance policy (the `maintenance` of its config): the site's nightly window
 * with its weekday overrides as the contract's weekly windows, in the site's time zone, and the blackouts that
 * reach the site (its own, its county's, its organization's) that are not over yet, soonest first. The agent
 * refuses work outside it by its own clock, whatever an order says.
 */
import {
  MAX_POLICY_BLACKOUTS,
  WEEKDAYS,
  type MaintenancePolicy,
  type PolicyBlackout,
} from '@medfleet/contracts';
import { DEFAULT_WINDOW, toEpochMs, type Blackout, type PlanSite } from '@medfleet/scheduling';

const DAY_MS = 86_400_000;

export function policyCopy(site: PlanSite, nowMs: number): MaintenancePolicy {
  const policy = site.policy ?? {};
  const byTimes = new Map<string, { days: (typeof WEEKDAYS)[number][]; start: string; end: string }>();
  for (const day of WEEKDAYS) {
    const override = policy.weekdays?.[day];
    if (override === null) continue;
    const start = override?.start ?? policy.window?.start ?? DEFAULT_WINDOW.start;
    const end = override?.end ?? policy.window?.end ?? DEFAULT_WINDOW.end;
    const key = `${start}-${end}`;
    const window = byTimes.get(key) ?? { days: [], start, end };
    window.days.push(day);
    byTimes.set(key, window);
  }
  const blackouts = (site.blackouts ?? [])
    .map((blackout) => copyOf(blackout))
    .filter((blackout) => !isOver(blackout, nowMs))
    .sort((a, b) => (startOf(a) < startOf(b) ? -1 : startOf(a) > startOf(b) ? 1 : a.id < b.id ? -1 : 1))
    .slice(0, MAX_POLICY_BLACKOUTS);
  return {
    timeZone: site.timeZone,
    windows: [...byTimes.values()],
    ...(blackouts.length > 0 ? { blackouts } : {}),
  };
}

function copyOf(blackout: Blackout): PolicyBlackout {
  return blackout.kind === 'interval'
    ? {
        kind: 'interval',
        id: blackout.id,
        start: new Date(toEpochMs(blackout.start)).toISOString(),
        end: new Date(toEpochMs(blackout.end)).toISOString(),
      }
    : { kind: 'local-dates', id: blackout.id, firstDate: blackout.firstDate, lastDate: blackout.lastDate };
}

/** Over: an interval that ended, or nights whose last one opened two days ago or more (in any time zone). */
function isOver(blackout: PolicyBlackout, nowMs: number): boolean {
  if (blackout.kind === 'interval') return Date.parse(blackout.end) <= nowMs;
  return blackout.lastDate < new Date(nowMs - 2 * DAY_MS).toISOString().slice(0, 10);
}

function startOf(blackout: PolicyBlackout): string {
  return blackout.kind === 'interval' ? blackout.start : blackout.firstDate;
}
