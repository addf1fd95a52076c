// Tenant isolation over HTTP, generated from the application's own route table (its OpenAPI document):
// for every route that takes an id, a principal outside the object's tenant gets 404 and nothing changes;
// every list answers none of another organization's objects. A new route with an id needs a fixture
// below, or this suite fails naming it.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_PERMISSIONS } from '../src/common/auth/permissions.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import { fingerprint } from './support/db-fingerprint.js';
import { personalTokenOf, signInAs } from './support/identity-session.js';
import { fillPath, routeTable, type Route } from './support/route-table.js';
import { createTenantSession, device, expectOk, type EnrolledAgent } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let owner: pg.Client;
let routes: Route[];
let agent: EnrolledAgent;
let outsider: ApiClient;
let neighbour: ApiClient;
/** Org 1's objects by the collection their route starts with. */
const victim: Record<string, string> = {};

/** A body that passes validation for each writable route, so a refusal can only come from the scope. */
const VALID_BODIES: Record<string, unknown> = {
  'PATCH /api/v1/tenants/{id}': { name: 'Renamed by an outsider' },
  'PATCH /api/v1/sites/{id}': { name: 'Renamed by an outsider', county: 'Broward' },
  'PATCH /api/v1/users/{id}': { displayName: 'Renamed by an outsider' },
  'PUT /api/v1/agents/{id}/config': { inventoryIntervalSec: 60, healthIntervalSec: 5 },
  'PUT /api/v1/tenants/{id}/campaign-approval': { delegated: true },
  'POST /api/v1/sites/{id}/blackouts': {
    kind: 'local-dates',
    firstDate: '2026-12-24',
    lastDate: '2026-12-24',
    reason: 'Declared by an outsider',
  },
  'POST /api/v1/patch-jobs/{id}/confirm': {
    outcome: 'failed',
    note: 'Reported by an outsider',
  },
  'PUT /api/v1/organizations/{id}/oidc': {
    issuer: 'https://idp.example',
    clientId: 'outsider',
    clientSecret: 'outsider-secret',
    allowedEmailDomains: ['outsider.example'],
  },
};

beforeAll(async () => {
  cp = await startTestControlPlane();
  owner = await cp.owner();
  const session = await createTenantSession(cp);
  agent = await session.enrollAgent();
  await agent.publishInventory(1, [device(1), device(2)]);
  await agent.waitForAck(1);
  const devices = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
  const token = await session.issueToken();
  const victimUser = await signInAs(cp, 'practice_admin', { tenantId: session.tenant.id });
  const victimToken = await personalTokenOf(victimUser, ['tenant:read']);
  const freeze = await expectOk(
    session.api.post('/blackouts', {
      scope: 'organization',
      kind: 'local-dates',
      firstDate: '2026-12-25',
      lastDate: '2026-12-25',
      reason: 'Christmas',
    }),
  );
  const campaign = await expectOk(
    session.api.post('/campaigns', {
      name: 'Victim campaign',
      tenantIds: [session.tenant.id],
      target: { vendor: 'BD' },
      procedure: { title: 'Battery swap', steps: ['Swap the battery'] },
      waves: [{ percent: 100 }],
      abort: { failurePercent: 10, minExecuted: 5 },
      catchUp: { mode: 'next-window' },
      durations: { minutesByModel: {}, defaultMinutes: 30 },
    }),
  );
  // A started campaign, so the victim has patch jobs (planned: a refusal can only come from the scope, since a
  // visible job that is not waiting for a technician would be a 409).
  const manual = await expectOk(
    session.api.post('/campaigns', {
      name: 'Victim manual campaign',
      tenantIds: [session.tenant.id],
      target: { vendor: 'BD' },
      procedure: { title: 'Battery swap', steps: ['Swap the battery'], version: '12.3.0' },
      waves: [{ percent: 100 }],
      abort: { failurePercent: 10, minExecuted: 5 },
      catchUp: { mode: 'next-window' },
      durations: { minutesByModel: {}, defaultMinutes: 30 },
    }),
  );
  await expectOk(victimUser.api.post(`/campaigns/${manual.id}/approve`, {}));
  await expectOk(session.api.post(`/campaigns/${manual.id}/start`));
  const jobs = await expectOk(session.api.get(`/patch-jobs?campaignId=${manual.id}`));
  const siteBlackout = await expectOk(
    session.api.post(`/sites/${session.site.id}/blackouts`, {
      kind: 'local-dates',
      firstDate: '2026-12-31',
      lastDate: '2026-12-31',
      reason: 'Year-end inventory',
    }),
  );
  Object.assign(victim, {
    organizations: session.tenant.organizationId,
    tenants: session.tenant.id,
    sites: session.site.id,
    'enrollment-tokens': token.id,
    agents: agent.identity.agentId,
    devices: devices.items[0].id,
    users: victimUser.user.id,
    // POST /auth/tokens/{id}/revoke: a personal token of organization 1's user.
    auth: victimToken.id,
    blackouts: freeze.id,
    'site-blackouts': siteBlackout.id,
    campaigns: campaign.id,
    'patch-jobs': jobs.items[0].id,
  });
  const other = await cp.app
    .get(OrganizationService)
    .create('Outsider MSP', `outsider-${randomUUID().slice(0, 8)}`);
  outsider = new ApiClient(cp.httpUrl, other.apiKey.token);
  await createTenantSession(cp, 'Outsider practice', { apiKey: other.apiKey.token });
  // A practice administrator of a sibling tenant in the same organization.
  const sibling = await createTenantSession(cp);
  neighbour = (await signInAs(cp, 'practice_admin', { tenantId: sibling.tenant.id })).api;
  routes = await routeTable(cp.httpUrl);
});

afterAll(async () => {
  await agent?.close();
  await owner?.end();
  await cp?.stop();
});

const collectionOf = (route: Route) => route.path.replace(/^\/api\/v1\//, '').split('/')[0] as string;

describe('routes that take an id', () => {
  it('the route table has them', () => {
    expect(routes.filter((r) => r.pathParams.length > 0).length).toBeGreaterThanOrEqual(8);
  });

  it('every one answers 404 to another organization and changes nothing', async () => {
    const before = await fingerprint(owner);
    const results: string[] = [];
    for (const route of routes.filter((r) => r.pathParams.includes('id') && !r.public)) {
      const id = victim[collectionOf(route)];
      if (!id)
        throw new Error(`no fixture for ${route.method} ${route.path}: add the collection to this suite`);
      const body = route.hasBody ? (VALID_BODIES[`${route.method} ${route.path}`] ?? {}) : undefined;
      const path = fillPath(route.path, { id }).replace(/^\/api\/v1/, '');
      const response = await outsider.request(route.method, path, body);
      results.push(`${route.method} ${route.path} → ${response.status} ${response.body?.error?.code}`);
    }
    expect(results.length).toBeGreaterThan(0);
    for (const line of results) expect(line).toMatch(/→ 404 NOT_FOUND$/);
    expect(await fingerprint(owner)).toEqual(before);
  });
});

describe('a user of another tenant in the same organization', () => {
  it('gets 404 for every object of this tenant it could otherwise reach, 403 where its role has no say, and changes nothing', async () => {
    const before = await fingerprint(owner);
    const results: string[] = [];
    for (const route of routes.filter((r) => r.pathParams.includes('id') && !r.public)) {
      const id = victim[collectionOf(route)] as string;
      const body = route.hasBody ? (VALID_BODIES[`${route.method} ${route.path}`] ?? {}) : undefined;
      const response = await neighbour.request(
        route.method,
        fillPath(route.path, { id }).replace(/^\/api\/v1/, ''),
        body,
      );
      const granted = ROLE_PERMISSIONS.practice_admin.includes(route.permission as never);
      const expected = granted ? '404 NOT_FOUND' : '403 FORBIDDEN';
      results.push(
        `${route.method} ${route.path} → ${response.status} ${response.body?.error?.code} (expected ${expected})`,
      );
    }
    for (const line of results) expect(line).toMatch(/→ (\d+ \w+) \(expected \1\)$/);
    expect(await fingerprint(owner)).toEqual(before);
  });
});

describe('list routes', () => {
  it("answer none of another organization's objects", async () => {
    const lists = routes.filter((r) => r.method === 'GET' && r.pathParams.length === 0 && !r.public);
    expect(lists.length).toBeGreaterThanOrEqual(6);
    const ids = Object.values(victim);
    for (const route of lists) {
      const response = await outsider.get(route.path.replace(/^\/api\/v1/, ''));
      expect(response.status, `${route.path}`).toBeLessThan(300);
      const text = JSON.stringify(response.body);
      for (const id of ids) expect(text, `${route.path} leaks ${id}`).not.toContain(id);
    }
  });

  it('filtering a list by another tenant answers nothing rather than an error that confirms it exists', async () => {
    for (const path of [
      '/sites',
      '/agents',
      '/devices',
      '/enrollment-tokens',
      '/dead-letters',
      '/patch-jobs',
    ]) {
      const response = await outsider.get(`${path}?tenantId=${victim.tenants}`);
      expect(response.status, path).toBe(200);
      expect(response.body.items, path).toEqual([]);
    }
  });
});
