/**
 * The agent's own window check: is an instant inside its site's maintenance window and outside every blackout, by
 * the policy copy its config carries? The window math is `@medfleet/scheduling`'s (DST-correct, the same the planner uses).
 */
import type { MaintenancePolicy } from '@medfleet/contracts';
import { windowAt, type Blackout, type MaintenanceSite, type Weekday } from '@medfleet/scheduling';

const SCHEDULING_WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export interface OwnWindow {
  startMs: number;
  endMs: number;
}

const sitesByPolicy = new WeakMap<MaintenancePolicy, MaintenanceSite[]>();

/**
 * The config lists windows with the weekdays on which each opens; scheduling's policy has one window with
 * per-weekday overrides. Each configured window becomes one scheduling site open only on its days, so two
 * windows on the same day are both honoured.
 */
function sitesOf(policy: MaintenancePolicy): MaintenanceSite[] {
  let sites = sitesByPolicy.get(policy);
  if (!sites) {
    sites = policy.windows.map((window) => ({
      timeZone: policy.timeZone,
      policy: {
        window: { start: window.start, end: window.end },
        weekdays: Object.fromEntries(
          SCHEDULING_WEEKDAYS.map((day) => [
            day,
            (window.days as readonly string[]).includes(day) ? {} : null,
          ]),
        ),
      },
    }));
    sitesByPolicy.set(policy, sites);
  }
  return sites;
}

/**
 * The window containing `instant` (the one ending last if windows overlap), cut by the copy's blackouts (the
 * site's own, its county's and its organization's), or null: no work then.
 */
export function ownWindowAt(policy: MaintenancePolicy, instant: number): OwnWindow | null {
  let found: OwnWindow | null = null;
  // The copy's blackouts have the library's shape: intervals and local nights, by id.
  const blackouts: readonly Blackout[] = policy.blackouts ?? [];
  for (const site of sitesOf(policy)) {
    const window = windowAt(site, instant, blackouts);
    if (window && (!found || window.endMs > found.endMs))
      found = { startMs: window.startMs, endMs: window.endMs };
  }
  return found;
}
