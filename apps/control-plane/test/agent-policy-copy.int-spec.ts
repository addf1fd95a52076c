// The agent's copy of its site's maintenance policy follows the site, against real PostgreSQL: the dispatcher gives
// an agent a new config version when its site's policy, its own blackouts or a county or organization freeze that
// reaches it change (triggers bump the site's revision in the same transaction), never for a change that does not
// reach it, and only once per change; the copy carries the windows by weekday and the blackouts not over yet.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '@medfleet/contracts';
import { PatchDispatcher } from '../src/modules/dispatch/patch-dispatch.job.js';
import { auditEntries } from './support/audit.js';
import {
  createTenantSession,
  expectOk,
  type EnrolledAgent,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY = 86_400_000;

let cp: TestControlPlane;
let owner: pg.Client;
let session: TenantSession;
let site: SiteRecord;
let elsewhere: SiteRecord;
let agent: EnrolledAgent;
let neighbour: EnrolledAgent;

async function desired(of: EnrolledAgent): Promise<{ version: number; maintenance: unknown }> {
  const view = await expectOk(session.api.get(`/agents/${of.identity.agentId}/config`));
  const config = agentConfigSchema.parse(view.desired);
  return { version: view.desiredVersion, maintenance: config.maintenance };
}

async function tick(): Promise<number> {
  return (await cp.app.get(PatchDispatcher).tick()).configsGiven;
}

beforeAll(async () => {
  cp = await startTestControlPlane({ DISPATCH_INTERVAL_SEC: '0' });
  owner = await cp.owner();
  session = await createTenantSession(cp);
  site = await session.createSite({ timeZone: 'America/New_York', county: 'Monroe' });
  elsewhere = await session.createSite({ timeZone: 'America/New_York', county: 'Palm Beach' });
  agent = await session.enrollAgent({ siteId: site.id });
  neighbour = await session.enrollAgent({ siteId: elsewhere.id });
}, 60_000);

afterAll(async () => {
  for (const each of [agent, neighbour]) await each?.close();
  await owner?.end();
  await cp?.stop();
});

describe("an agent's copy of its site's maintenance policy", () => {
  it('comes with the first config the dispatcher gives it, with the signing key', async () => {
    expect(await tick()).toBe(2);
    expect(await desired(agent)).toEqual({
      version: 1,
      maintenance: {
        timeZone: 'America/New_York',
        windows: [{ days: EVERY_DAY, start: '22:00', end: '05:00' }],
      },
    });
    // Nothing changed: nothing new.
    expect(await tick()).toBe(0);
  });

  it("follows the site's policy: weekday overrides and a night without a window", async () => {
    await expectOk(
      session.api.request('PUT', `/sites/${site.id}/maintenance-policy`, {
        window: { start: '21:00', end: '06:00' },
        weekdays: { thu: { start: '23:00' }, sun: null },
        maxConcurrentJobs: 3,
      }),
    );
    expect(await tick()).toBe(1);
    expect(await desired(agent)).toEqual({
      version: 2,
      maintenance: {
        timeZone: 'America/New_York',
        windows: [
          { days: ['mon', 'tue', 'wed', 'fri', 'sat'], start: '21:00', end: '06:00' },
          { days: ['thu'], start: '23:00', end: '06:00' },
        ],
      },
    });
    expect((await desired(neighbour)).version).toBe(1);
    // Only the concurrency limit changes: the copy is the same, no new version.
    await expectOk(
      session.api.request('PUT', `/sites/${site.id}/maintenance-policy`, {
        window: { start: '21:00', end: '06:00' },
        weekdays: { thu: { start: '23:00' }, sun: null },
        maxConcurrentJobs: 5,
      }),
    );
    expect(await tick()).toBe(0);
    const entries = (await auditEntries(session.api, 'action=agent.configure')).filter(
      (each) => each.target?.id === agent.identity.agentId,
    );
    // Newest first: the policy change, then the first config (key and policy together).
    expect(entries.map((each) => each.details.reasons)).toEqual([
      ['site maintenance policy'],
      ['work-order key', 'site maintenance policy'],
    ]);
    expect(entries[0]?.actor).toMatchObject({ kind: 'system' });
  });

  it('carries the freezes that reach the site, and drops one lifted', async () => {
    const start = new Date(Math.ceil(Date.now() / DAY) * DAY + DAY).toISOString();
    const end = new Date(Date.parse(start) + 3 * DAY).toISOString();
    const freeze = await expectOk(
      session.api.post('/blackouts', {
        scope: 'county',
        county: 'monroe',
        kind: 'interval',
        start,
        end,
        reason: 'Hurricane warning: change freeze',
      }),
    );
    const holiday = await expectOk(
      session.api.post(`/sites/${site.id}/blackouts`, {
        kind: 'local-dates',
        firstDate: '2027-12-24',
        lastDate: '2027-12-25',
        reason: 'Christmas',
      }),
    );
    // Another county's freeze does not reach the site.
    await expectOk(
      session.api.post('/blackouts', {
        scope: 'county',
        county: 'Palm Beach',
        kind: 'interval',
        start,
        end,
        reason: 'x',
      }),
    );
    expect(await tick()).toBe(2);
    const copy = (await desired(agent)).maintenance as { blackouts: unknown[] };
    expect(copy.blackouts).toEqual([
      {
        kind: 'interval',
        id: freeze.id,
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
      },
      { kind: 'local-dates', id: holiday.id, firstDate: '2027-12-24', lastDate: '2027-12-25' },
    ]);
    expect(((await desired(neighbour)).maintenance as { blackouts: unknown[] }).blackouts).toHaveLength(1);

    await expectOk(session.api.request('DELETE', `/blackouts/${freeze.id}`));
    expect(await tick()).toBe(1);
    expect(((await desired(agent)).maintenance as { blackouts: unknown[] }).blackouts).toEqual([
      { kind: 'local-dates', id: holiday.id, firstDate: '2027-12-24', lastDate: '2027-12-25' },
    ]);
  });

  it('follows the site to another time zone', async () => {
    await expectOk(session.api.request('PATCH', `/sites/${site.id}`, { timeZone: 'America/Chicago' }));
    expect(await tick()).toBe(1);
    expect(((await desired(agent)).maintenance as { timeZone: string }).timeZone).toBe('America/Chicago');
    const revs = await owner.query(
      `SELECT a.maintenance_rev = s.maintenance_rev AS synced FROM agents a JOIN sites s ON s.id = a.site_id
        WHERE a.id = $1`,
      [agent.identity.agentId],
    );
    expect(revs.rows).toEqual([{ synced: true }]);
  });
});
