// Site maintenance policies, blackouts by scope and the per-site calendar over the API: policies validated by
// the scheduling library (400 with its problems), windows across the 2026 DST nights in New York and Chicago,
// a county freeze removing nights for that county's sites only, who may declare what, and tenant isolation.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import { auditEntries } from './support/audit.js';
import { signInAs } from './support/identity-session.js';
import {
  createTenantSession,
  expectOk,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let msp: ApiClient;
let practice: TenantSession;
let sibling: TenantSession;
let newYork: SiteRecord;
let chicago: SiteRecord;
let broward: SiteRecord;
let siblingBroward: SiteRecord;
let practiceAdmin: ApiClient;
let siblingAdmin: ApiClient;
let outsider: ApiClient;

interface WindowView {
  localDate: string;
  startUtc: string;
  endUtc: string;
  startLocal: string;
  endLocal: string;
  minutes: number;
  clipped: boolean;
}

async function windows(api: ApiClient, siteId: string, from: string, to: string): Promise<WindowView[]> {
  const body = await expectOk(api.get(`/sites/${siteId}/maintenance-windows?from=${from}&to=${to}`));
  return body.windows as WindowView[];
}

const nights = (list: WindowView[]) => list.map((window) => window.localDate);

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
  });
  practice = await createTenantSession(cp);
  msp = practice.api;
  sibling = await createTenantSession(cp);
  newYork = practice.site;
  chicago = await practice.createSite({ timeZone: 'America/Chicago', county: 'Cook' });
  broward = await practice.createSite({ timeZone: 'America/New_York', county: 'Broward' });
  siblingBroward = await sibling.createSite({ timeZone: 'America/New_York', county: 'broward ' });
  practiceAdmin = (await signInAs(cp, 'practice_admin', { tenantId: practice.tenant.id })).api;
  siblingAdmin = (await signInAs(cp, 'practice_admin', { tenantId: sibling.tenant.id })).api;
  const other = await cp.app
    .get(OrganizationService)
    .create('Other MSP', `other-${randomUUID().slice(0, 8)}`);
  outsider = new ApiClient(cp.httpUrl, other.apiKey.token);
});

afterAll(async () => {
  await cp?.stop();
});

describe('maintenance policy', () => {
  it('is the default 22:00–05:00 in the site zone until one is stored', async () => {
    const view = await expectOk(msp.get(`/sites/${newYork.id}/maintenance-policy`));
    expect(view).toMatchObject({
      siteId: newYork.id,
      timeZone: 'America/New_York',
      isDefault: true,
      policy: { window: { start: '22:00', end: '05:00' }, maxConcurrentJobs: 1 },
    });
  });

  it('is stored, read back and audited', async () => {
    const policy = {
      window: { start: '22:00', end: '05:00' },
      weekdays: { thu: { start: '23:00' }, sun: null },
      maxConcurrentJobs: 2,
    };
    const stored = await expectOk(
      practiceAdmin.request('PUT', `/sites/${newYork.id}/maintenance-policy`, policy),
    );
    expect(stored).toMatchObject({ isDefault: false, policy });
    expect((await expectOk(msp.get(`/sites/${newYork.id}/maintenance-policy`))).policy).toEqual(policy);
    const [entry] = await auditEntries(msp, `action=maintenance_policy.update`);
    expect(entry).toMatchObject({ target: { type: 'site', id: newYork.id }, after: policy });

    // The Thursday window opens at 23:00 and Sunday has none.
    const list = await windows(msp, newYork.id, '2026-04-02T00:00:00Z', '2026-04-06T12:00:00Z');
    expect(list.map((window) => [window.localDate, window.startLocal])).toEqual([
      ['2026-04-01', '2026-04-01T22:00:00-04:00'],
      ['2026-04-02', '2026-04-02T23:00:00-04:00'],
      ['2026-04-03', '2026-04-03T22:00:00-04:00'],
      ['2026-04-04', '2026-04-04T22:00:00-04:00'],
    ]);
  });

  it('refuses a bad policy with the library code and every problem, and keeps the old one', async () => {
    const overlapping = await msp.request('PUT', `/sites/${newYork.id}/maintenance-policy`, {
      window: { start: '22:00', end: '05:00' },
      weekdays: { tue: { start: '04:00', end: '06:00' } },
    });
    expect(overlapping.status).toBe(400);
    expect(overlapping.body.error.code).toBe('INVALID_POLICY');
    expect(overlapping.body.error.details.problems.join(' ')).toMatch(
      /mon window .* overlaps the tue window/,
    );

    const badTimes = await msp.request('PUT', `/sites/${newYork.id}/maintenance-policy`, {
      window: { start: '25:00', end: '5am' },
      weekdays: { funday: null },
      maxConcurrentJobs: 0,
    });
    expect(badTimes.status).toBe(400);
    expect(badTimes.body.error.code).toBe('INVALID_POLICY');
    expect(badTimes.body.error.details.problems).toHaveLength(4);

    for (const body of [
      { window: { start: '22:00' } },
      { window: { start: '22:00', end: '05:00', extra: 1 } },
      { weekdays: { mon: 'closed' } },
      { window: 'nightly' },
      { maxConcurrentJobs: 'two' },
    ]) {
      const response = await msp.request('PUT', `/sites/${newYork.id}/maintenance-policy`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(['INVALID_POLICY', 'VALIDATION_FAILED']).toContain(response.body.error.code);
    }
    expect(
      (await expectOk(msp.get(`/sites/${newYork.id}/maintenance-policy`))).policy.maxConcurrentJobs,
    ).toBe(2);
  });

  it("is another tenant's and another organization's 404, and a viewer's 403", async () => {
    for (const api of [siblingAdmin, outsider]) {
      expect((await api.get(`/sites/${newYork.id}/maintenance-policy`)).status).toBe(404);
      expect((await api.request('PUT', `/sites/${newYork.id}/maintenance-policy`, {})).status).toBe(404);
      expect((await api.get(`/sites/${newYork.id}/maintenance-windows`)).status).toBe(404);
    }
    const viewer = (await signInAs(cp, 'practice_viewer', { tenantId: practice.tenant.id })).api;
    expect((await viewer.get(`/sites/${newYork.id}/maintenance-policy`)).status).toBe(200);
    const refused = await viewer.request('PUT', `/sites/${newYork.id}/maintenance-policy`, {});
    expect(refused.status).toBe(403);
    expect(refused.body.error.details.permission).toBe('maintenance:write');
  });
});

describe('calendar across the 2026 DST nights', () => {
  it('New York: 6 hours on the spring-forward night, 8 on the fall-back night, 7 otherwise (first night ends before the range)', async () => {
    const spring = await windows(msp, broward.id, '2026-03-06T12:00:00Z', '2026-03-09T12:00:00Z');
    expect(spring.map((window) => [window.localDate, window.minutes])).toEqual([
      ['2026-03-06', 420],
      ['2026-03-07', 360],
      ['2026-03-08', 420],
    ]);
    expect(spring[1]).toMatchObject({
      startUtc: '2026-03-08T03:00:00.000Z',
      endUtc: '2026-03-08T09:00:00.000Z',
      startLocal: '2026-03-07T22:00:00-05:00',
      endLocal: '2026-03-08T05:00:00-04:00',
    });
    const fall = await windows(msp, broward.id, '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z');
    expect(fall).toEqual([
      {
        localDate: '2026-10-31',
        startUtc: '2026-11-01T02:00:00.000Z',
        endUtc: '2026-11-01T10:00:00.000Z',
        startLocal: '2026-10-31T22:00:00-04:00',
        endLocal: '2026-11-01T05:00:00-05:00',
        minutes: 480,
        clipped: false,
        jobs: [],
      },
    ]);
  });

  it('Chicago: the same nights in its own zone', async () => {
    const spring = await windows(msp, chicago.id, '2026-03-08T00:00:00Z', '2026-03-08T12:00:00Z');
    expect(spring).toMatchObject([
      {
        localDate: '2026-03-07',
        startUtc: '2026-03-08T04:00:00.000Z',
        endUtc: '2026-03-08T10:00:00.000Z',
        startLocal: '2026-03-07T22:00:00-06:00',
        endLocal: '2026-03-08T05:00:00-05:00',
        minutes: 360,
      },
    ]);
    const fall = await windows(msp, chicago.id, '2026-11-01T06:00:00Z', '2026-11-01T08:00:00Z');
    expect(fall).toMatchObject([
      {
        localDate: '2026-10-31',
        startUtc: '2026-11-01T03:00:00.000Z',
        endUtc: '2026-11-01T11:00:00.000Z',
        minutes: 480,
      },
    ]);
  });

  it('refuses a time without an offset, a reversed or too long range', async () => {
    const naive = await msp.get(
      `/sites/${chicago.id}/maintenance-windows?from=2026-03-01T00:00:00&to=2026-03-02T00:00:00Z`,
    );
    expect(naive.status).toBe(400);
    expect(naive.body.error.code).toBe('INVALID_INSTANT');
    for (const query of [
      'from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z',
      'from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z',
    ]) {
      const response = await msp.get(`/sites/${chicago.id}/maintenance-windows?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.code).toBe('INVALID_RANGE');
    }
    const unknown = await msp.get(`/sites/${chicago.id}/maintenance-windows?days=3`);
    expect(unknown.status).toBe(400);
  });
});

describe('blackouts by scope', () => {
  const from = '2026-05-10T00:00:00Z';
  const to = '2026-05-14T00:00:00Z';

  it('a county freeze removes the nights of that county’s sites only, in every tenant', async () => {
    const before = {
      broward: nights(await windows(msp, broward.id, from, to)),
      siblingBroward: nights(await windows(msp, siblingBroward.id, from, to)),
      newYork: nights(await windows(msp, newYork.id, from, to)),
    };
    expect(before.broward).toContain('2026-05-11');
    const freeze = await expectOk(
      msp.post('/blackouts', {
        scope: 'county',
        county: 'Broward',
        kind: 'local-dates',
        firstDate: '2026-05-11',
        lastDate: '2026-05-12',
        reason: 'Tropical storm watch',
      }),
    );
    expect(freeze).toMatchObject({ scope: 'county', county: 'Broward', kind: 'local-dates' });
    const after = {
      broward: nights(await windows(msp, broward.id, from, to)),
      siblingBroward: nights(await windows(msp, siblingBroward.id, from, to)),
      newYork: nights(await windows(msp, newYork.id, from, to)),
    };
    const expected = before.broward.filter((night) => night !== '2026-05-11' && night !== '2026-05-12');
    expect(after.broward).toEqual(expected);
    expect(after.siblingBroward).toEqual(expected);
    expect(after.newYork).toEqual(before.newYork);
    // The practice sees the freeze that reaches its site.
    const reaching = await expectOk(practiceAdmin.get(`/sites/${broward.id}/blackouts`));
    expect(reaching.items.map((item: { id: string }) => item.id)).toContain(freeze.id);
    const notReaching = await expectOk(practiceAdmin.get(`/sites/${newYork.id}/blackouts`));
    expect(notReaching.items.map((item: { id: string }) => item.id)).not.toContain(freeze.id);

    // Lifting it gives the nights back.
    expect((await msp.request('DELETE', `/blackouts/${freeze.id}`)).status).toBe(204);
    expect(nights(await windows(msp, broward.id, from, to))).toEqual(before.broward);
  });

  it('an organization-wide interval shrinks and splits windows everywhere', async () => {
    const freeze = await expectOk(
      msp.post('/blackouts', {
        scope: 'organization',
        kind: 'interval',
        start: '2026-05-13T04:00:00Z',
        end: '2026-05-13T06:00:00Z',
        reason: 'Core network change',
      }),
    );
    for (const site of [newYork, chicago, siblingBroward]) {
      const pieces = (await windows(msp, site.id, '2026-05-13T00:00:00Z', '2026-05-13T12:00:00Z')).filter(
        (window) => window.localDate === '2026-05-12',
      );
      expect(pieces.length, site.timeZone).toBe(2);
      expect(pieces.every((piece) => piece.clipped)).toBe(true);
      expect(pieces[0]?.endUtc).toBe('2026-05-13T04:00:00.000Z');
      expect(pieces[1]?.startUtc).toBe('2026-05-13T06:00:00.000Z');
    }
    const edited = await expectOk(msp.patch(`/blackouts/${freeze.id}`, { end: '2026-05-13T05:00:00Z' }));
    expect(edited.end).toBe('2026-05-13T05:00:00.000Z');
    const refused = await msp.patch(`/blackouts/${freeze.id}`, { end: '2026-05-13T03:00:00Z' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('INVALID_BLACKOUT');
    const actions = (await auditEntries(msp, 'action=blackout.update')).map((entry) => entry.target?.id);
    expect(actions).toContain(freeze.id);
    expect((await msp.request('DELETE', `/blackouts/${freeze.id}`)).status).toBe(204);
  });

  it("a practice closes its own site's nights, but may not freeze the organization", async () => {
    const own = await expectOk(
      practiceAdmin.post(`/sites/${broward.id}/blackouts`, {
        kind: 'local-dates',
        firstDate: '2026-05-12',
        lastDate: '2026-05-12',
        reason: 'Inventory audit',
      }),
    );
    expect(own).toMatchObject({ scope: 'site', siteId: broward.id, tenantId: practice.tenant.id });
    expect(nights(await windows(msp, broward.id, from, to))).not.toContain('2026-05-12');
    expect(nights(await windows(msp, siblingBroward.id, from, to))).toContain('2026-05-12');

    const freeze = await practiceAdmin.post('/blackouts', {
      scope: 'organization',
      kind: 'local-dates',
      firstDate: '2026-05-12',
      lastDate: '2026-05-12',
      reason: 'not mine to declare',
    });
    expect(freeze.status).toBe(403);
    expect(freeze.body.error.details.permission).toBe('blackout:write');

    // The sibling practice can neither see nor touch it.
    expect((await siblingAdmin.patch(`/site-blackouts/${own.id}`, { reason: 'x' })).status).toBe(404);
    expect((await siblingAdmin.request('DELETE', `/site-blackouts/${own.id}`)).status).toBe(404);
    expect((await outsider.request('DELETE', `/site-blackouts/${own.id}`)).status).toBe(404);
    expect(
      (
        await siblingAdmin.post(`/sites/${broward.id}/blackouts`, {
          kind: 'local-dates',
          firstDate: '2026-05-13',
          lastDate: '2026-05-13',
          reason: 'x',
        })
      ).status,
    ).toBe(404);

    const [created] = await auditEntries(practiceAdmin, 'action=blackout.create');
    expect(created).toMatchObject({ target: { type: 'site_blackout', id: own.id } });
    expect((await practiceAdmin.request('DELETE', `/site-blackouts/${own.id}`)).status).toBe(204);
    expect(nights(await windows(msp, broward.id, from, to))).toContain('2026-05-12');
  });

  it('refuses malformed blackouts with a code', async () => {
    for (const body of [
      {
        scope: 'county',
        kind: 'local-dates',
        firstDate: '2026-05-12',
        lastDate: '2026-05-12',
        reason: 'no county',
      },
      {
        scope: 'organization',
        kind: 'local-dates',
        firstDate: '2026-05-12',
        lastDate: '2026-05-11',
        reason: 'backwards',
      },
      {
        scope: 'organization',
        kind: 'local-dates',
        firstDate: '2026-02-30',
        lastDate: '2026-03-01',
        reason: 'no such day',
      },
      {
        scope: 'organization',
        kind: 'interval',
        start: '2026-05-12T00:00:00',
        end: '2026-05-13T00:00:00Z',
        reason: 'no offset',
      },
      { scope: 'organization', kind: 'interval', start: '2026-05-12T00:00:00Z', reason: 'no end' },
      {
        scope: 'organization',
        kind: 'interval',
        start: '2026-05-12T00:00:00Z',
        end: '2026-05-13T00:00:00Z',
        firstDate: '2026-05-12',
        reason: 'mixed',
      },
      {
        scope: 'planet',
        kind: 'interval',
        start: '2026-05-12T00:00:00Z',
        end: '2026-05-13T00:00:00Z',
        reason: 'x',
      },
    ]) {
      const response = await msp.post('/blackouts', body);
      expect(response.status, body.reason).toBe(400);
      expect(typeof response.body.error.code).toBe('string');
    }
  });

  it("another organization lists none of this organization's freezes and cannot lift them", async () => {
    const freeze = await expectOk(
      msp.post('/blackouts', {
        scope: 'organization',
        kind: 'local-dates',
        firstDate: '2026-12-25',
        lastDate: '2026-12-25',
        reason: 'Christmas',
      }),
    );
    const listed = await expectOk(outsider.get('/blackouts'));
    expect(JSON.stringify(listed)).not.toContain(freeze.id);
    expect((await outsider.request('DELETE', `/blackouts/${freeze.id}`)).status).toBe(404);
    expect((await outsider.patch(`/blackouts/${freeze.id}`, { reason: 'lifted' })).status).toBe(404);
    const mine = await expectOk(msp.get('/blackouts'));
    expect(mine.items.map((item: { id: string }) => item.id)).toContain(freeze.id);
  });
});
