// The REST surface as a client meets it: the OpenAPI description, authentication on every operation it
// lists, the one error shape for bad input, keyset pagination, and the device and agent filters.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import {
  createTenantSession,
  device,
  expectOk,
  type EnrolledAgent,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  secured: boolean;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string };
  paths: Record<string, Record<string, { security?: unknown[] }>>;
  components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
}

const PREFIX = '/api/v1';
const HEALTH = [`GET ${PREFIX}/health/live`, `GET ${PREFIX}/health/ready`];
/** The sign-in steps: public, they take their credential in the body (or are the browser's SSO redirects). */
const SIGN_IN = [
  `POST ${PREFIX}/auth/login`,
  `POST ${PREFIX}/auth/mfa/enroll`,
  `POST ${PREFIX}/auth/mfa/confirm`,
  `POST ${PREFIX}/auth/mfa/verify`,
  `GET ${PREFIX}/auth/oidc/{organization}/start`,
  `GET ${PREFIX}/auth/oidc/callback`,
];
const PUBLIC = [...HEALTH, ...SIGN_IN];

let cp: TestControlPlane;
let api: ApiClient;
let anonymous: ApiClient;
let document: OpenApiDocument;
let operations: Operation[];
const agents: EnrolledAgent[] = [];

const expectError = (status: number, code: string) => ({ status, body: { error: { code } } });

beforeAll(async () => {
  cp = await startTestControlPlane();
  api = new ApiClient(cp.httpUrl, cp.apiKey);
  anonymous = api.withKey(null);
  const response = await fetch(`${cp.httpUrl}/api/docs/openapi.json`);
  expect(response.status).toBe(200);
  document = (await response.json()) as OpenApiDocument;
  operations = Object.entries(document.paths).flatMap(([path, item]) =>
    (['get', 'post', 'put', 'patch', 'delete'] as const)
      .filter((method) => item[method] !== undefined)
      .map((method) => ({
        method: method.toUpperCase() as Operation['method'],
        path,
        secured: (item[method]?.security ?? []).length > 0,
      })),
  );
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await cp?.stop();
});

const label = (op: Operation) => `${op.method} ${op.path}`;

/** Calls an operation of the document with a random UUID for every path parameter. */
async function call(op: Operation, headers: Record<string, string>) {
  const path = op.path.replace(/\{[^}]+\}/g, () => randomUUID());
  const withBody = op.method === 'POST' || op.method === 'PATCH' || op.method === 'PUT';
  const response = await fetch(`${cp.httpUrl}${path}`, {
    method: op.method,
    headers: { ...headers, ...(withBody ? { 'content-type': 'application/json' } : {}) },
    body: withBody ? JSON.stringify({ name: 'x' }) : undefined,
  });
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text, the assertion shows it
  }
  return { status: response.status, body };
}

describe('OpenAPI document', () => {
  it('is served without a key and describes bearer API-key auth', () => {
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.title).toBe('Medfleet control plane');
    expect(Object.values(document.components?.securitySchemes ?? {})).toContainEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
  });

  it('lists the routes of organizations, tenants, sites, enrollment tokens, agents and devices', () => {
    expect(operations.map(label)).toEqual(
      expect.arrayContaining([
        `GET ${PREFIX}/organizations`,
        `GET ${PREFIX}/organizations/{id}`,
        `POST ${PREFIX}/tenants`,
        `GET ${PREFIX}/tenants`,
        `GET ${PREFIX}/tenants/{id}`,
        `PATCH ${PREFIX}/tenants/{id}`,
        `POST ${PREFIX}/sites`,
        `GET ${PREFIX}/sites`,
        `GET ${PREFIX}/sites/{id}`,
        `PATCH ${PREFIX}/sites/{id}`,
        `POST ${PREFIX}/enrollment-tokens`,
        `GET ${PREFIX}/enrollment-tokens`,
        `GET ${PREFIX}/enrollment-tokens/{id}`,
        `POST ${PREFIX}/enrollment-tokens/{id}/revoke`,
        `GET ${PREFIX}/agents`,
        `GET ${PREFIX}/agents/{id}`,
        `GET ${PREFIX}/devices`,
        `GET ${PREFIX}/devices/{id}`,
        ...HEALTH,
      ]),
    );
    expect(operations.every((op) => op.path.startsWith(`${PREFIX}/`))).toBe(true);
  });

  it('documents every operation but the health probes as needing the bearer key', () => {
    expect(
      operations
        .filter((op) => !op.secured)
        .map(label)
        .sort(),
    ).toEqual([...PUBLIC].sort());
  });
});

describe('authentication of every operation in the document', () => {
  const keyId = () => /^mfk_([0-9a-f-]{36})_/.exec(cp.apiKey)?.[1] as string;
  const secret = () => randomBytes(32).toString('base64url');
  let revokedKey: string;

  beforeAll(async () => {
    const created = await cp.app.get(OrganizationService).create('Revoked MSP', 'revoked-msp');
    revokedKey = created.apiKey.token;
    expect((await api.withKey(revokedKey).get('/tenants')).status).toBe(200);
    const owner = await cp.owner();
    try {
      await owner.query(`UPDATE org_api_keys SET revoked_at = now() WHERE id = $1`, [created.apiKey.id]);
    } finally {
      await owner.end();
    }
  });

  const CREDENTIALS: { name: string; headers: () => Record<string, string> }[] = [
    { name: 'no key', headers: () => ({}) },
    {
      name: 'another scheme',
      headers: () => ({ authorization: `Basic ${Buffer.from(cp.apiKey).toString('base64')}` }),
    },
    { name: 'a malformed key', headers: () => ({ authorization: 'Bearer not-a-medfleet-key' }) },
    {
      name: 'a well-formed unknown key',
      headers: () => ({ authorization: `Bearer mfk_${randomUUID()}_${secret()}` }),
    },
    {
      name: 'a real key id with a wrong secret',
      headers: () => ({ authorization: `Bearer mfk_${keyId()}_${secret()}` }),
    },
    { name: 'a revoked key', headers: () => ({ authorization: `Bearer ${revokedKey}` }) },
  ];

  it.each(CREDENTIALS)(
    '$name: every protected operation answers 401 UNAUTHENTICATED',
    async ({ headers }) => {
      const secured = operations.filter((op) => !PUBLIC.includes(label(op)));
      expect(secured.length).toBeGreaterThanOrEqual(18);
      const wrong: unknown[] = [];
      for (const op of secured) {
        const { status, body } = await call(op, headers());
        const error = body?.error;
        const shaped =
          status === 401 &&
          error?.code === 'UNAUTHENTICATED' &&
          typeof error.message === 'string' &&
          error.message.length > 0 &&
          typeof error.details === 'object' &&
          error.details !== null &&
          Object.keys(body).length === 1;
        if (!shaped) wrong.push({ op: label(op), status, body });
      }
      expect(wrong).toEqual([]);
    },
  );

  it('the real key works on the same operations (the 401s are about the key)', async () => {
    expect((await api.get('/tenants')).status).toBe(200);
    expect((await api.get(`/tenants/${randomUUID()}`)).status).toBe(404);
  });

  it('health live and ready answer 200 without a key', async () => {
    expect(await anonymous.get('/health/live')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await anonymous.get('/health/ready')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'up', broker: 'up' } },
    });
  });

  it('an unknown route answers 404 ROUTE_NOT_FOUND in the one error shape', async () => {
    expect(await api.get('/no-such-thing')).toMatchObject(expectError(404, 'ROUTE_NOT_FOUND'));
  });
});

describe('validation and errors', () => {
  let session: TenantSession;

  beforeAll(async () => {
    session = await createTenantSession(cp, 'Validation Practice');
  });

  it('unknown fields in a body or query answer 400 VALIDATION_FAILED naming them', async () => {
    const created = await api.post('/tenants', { name: 'Unknown Field Practice', role: 'admin' });
    expect(created).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
    expect(created.body.error.details.problems).toContain('property role should not exist');
    expect(await api.patch(`/sites/${session.site.id}`, { tenantId: randomUUID() })).toMatchObject(
      expectError(400, 'VALIDATION_FAILED'),
    );
    expect(await api.get('/devices?color=red')).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
    expect(
      (await api.get('/tenants?limit=500')).body.items.map((t: { name: string }) => t.name),
    ).not.toContain('Unknown Field Practice');
  });

  it('malformed JSON answers 400 MALFORMED_JSON', async () => {
    expect(await api.request('POST', '/tenants', undefined, '{"name": "Half')).toEqual({
      status: 400,
      body: { error: { code: 'MALFORMED_JSON', message: expect.any(String), details: {} } },
    });
    expect(await api.request('PATCH', `/sites/${session.site.id}`, undefined, "{name: 'x'}")).toMatchObject(
      expectError(400, 'MALFORMED_JSON'),
    );
  });

  it('a body over 64 KB answers 413 PAYLOAD_TOO_LARGE; just under is parsed and validated', async () => {
    const huge = JSON.stringify({ name: 'x'.repeat(70 * 1024) });
    expect(await api.request('POST', '/tenants', undefined, huge)).toMatchObject(
      expectError(413, 'PAYLOAD_TOO_LARGE'),
    );
    const large = JSON.stringify({ name: 'x'.repeat(60 * 1024) });
    expect(await api.request('POST', '/tenants', undefined, large)).toMatchObject(
      expectError(400, 'VALIDATION_FAILED'),
    );
  });

  it('an invalid UUID path parameter answers 400 on every /{id} operation', async () => {
    const withId = operations.filter((op) => op.path.includes('{id}'));
    expect(withId.length).toBeGreaterThanOrEqual(9);
    const wrong: unknown[] = [];
    for (const op of withId) {
      const { status, body } = await call(
        { ...op, path: op.path.replace('{id}', 'not-a-uuid') },
        { authorization: `Bearer ${cp.apiKey}` },
      );
      if (status !== 400 || body?.error?.code !== 'VALIDATION_FAILED')
        wrong.push({ op: label(op), status, body });
    }
    expect(wrong).toEqual([]);
  });

  it.each(['EST+5', 'Mars/Olympus', '+05:00', 'america/new_york', ''])(
    'a site with time zone %j answers 400, on create and on update',
    async (timeZone) => {
      const created = await api.post('/sites', {
        tenantId: session.tenant.id,
        name: `Bad TZ ${timeZone}`,
        timeZone,
      });
      expect(created).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
      expect(JSON.stringify(created.body.error.details.problems)).toContain('timeZone');
      expect(await api.patch(`/sites/${session.site.id}`, { timeZone })).toMatchObject(
        expectError(400, 'VALIDATION_FAILED'),
      );
      expect((await expectOk(api.get(`/sites/${session.site.id}`))).timeZone).toBe('America/New_York');
    },
  );

  it('IANA zones and UTC are accepted', async () => {
    const site = await session.createSite({ timeZone: 'America/Chicago' });
    expect(site.timeZone).toBe('America/Chicago');
    expect(await expectOk(api.patch(`/sites/${site.id}`, { timeZone: 'UTC' }))).toMatchObject({
      id: site.id,
      timeZone: 'UTC',
    });
  });

  it('a duplicate tenant name answers 409 CONFLICT', async () => {
    const duplicate = await api.post('/tenants', { name: session.tenant.name });
    expect(duplicate).toEqual({
      status: 409,
      body: {
        error: { code: 'CONFLICT', message: expect.any(String), details: { name: session.tenant.name } },
      },
    });
  });

  it('renaming a tenant to a name its organization already uses answers 409 CONFLICT', async () => {
    const other = await expectOk(api.post('/tenants', { name: 'Rename Target Practice' }));
    expect(await api.patch(`/tenants/${other.id}`, { name: session.tenant.name })).toMatchObject(
      expectError(409, 'CONFLICT'),
    );
    expect((await expectOk(api.get(`/tenants/${other.id}`))).name).toBe('Rename Target Practice');
  });

  it('a duplicate site name in one tenant answers 409 CONFLICT, on create and on rename', async () => {
    expect(
      await api.post('/sites', { tenantId: session.tenant.id, name: session.site.name, timeZone: 'UTC' }),
    ).toMatchObject(expectError(409, 'CONFLICT'));
    const second = await session.createSite({ name: 'Second Site' });
    expect(await api.patch(`/sites/${second.id}`, { name: session.site.name })).toMatchObject(
      expectError(409, 'CONFLICT'),
    );
    // The same name in another tenant is fine.
    const elsewhere = await expectOk(api.post('/tenants', { name: 'Elsewhere Practice' }));
    expect(
      (await api.post('/sites', { tenantId: elsewhere.id, name: session.site.name, timeZone: 'UTC' })).status,
    ).toBe(201);
  });

  it('concurrent creation of one tenant name: one 201, the rest 409', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => api.post('/tenants', { name: 'Race Practice' })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status !== 201)) {
      expect(answer).toMatchObject(expectError(409, 'CONFLICT'));
    }
  });
});

describe('keyset pagination', () => {
  let paged: TenantSession;
  let pagedDevices: string[];

  beforeAll(async () => {
    for (let i = 0; i < 5; i++) await expectOk(api.post('/tenants', { name: `Paged Practice ${i}` }));
    paged = await createTenantSession(cp, 'Paged Devices Practice');
    const agent = await paged.enrollAgent();
    agents.push(agent);
    await agent.publishInventory(
      1,
      Array.from({ length: 6 }, (_, i) => device(0x900 + i, { category: 'printer', vendor: 'Zebra' })),
    );
    await agent.waitForAck(1);
    pagedDevices = (await expectOk(api.get(`/devices?tenantId=${paged.tenant.id}`))).items.map(
      (d: { id: string }) => d.id,
    );
    expect(pagedDevices).toHaveLength(6);
  });

  const walkAndCompare = async (path: string, limit: number) => {
    const all = (await expectOk(api.get(`${path}${path.includes('?') ? '&' : '?'}limit=500`))).items.map(
      (item: { id: string }) => item.id,
    ) as string[];
    const pages = await api.pages<{ id: string }>(path, limit);
    const walked = pages.flatMap((page) => page.items.map((item) => item.id));
    // Every item exactly once, in id order, full pages until the last, which ends the walk.
    expect(walked).toEqual(all);
    expect(new Set(walked).size).toBe(walked.length);
    expect(walked).toEqual([...walked].sort());
    expect(pages.slice(0, -1).every((page) => page.items.length === limit && page.nextCursor !== null)).toBe(
      true,
    );
    expect(pages.at(-1)?.nextCursor).toBeNull();
    expect(pages).toHaveLength(Math.max(1, Math.ceil(all.length / limit)));
    return walked;
  };

  it('/tenants with limit=2 yields every tenant once, in id order', async () => {
    const walked = await walkAndCompare('/tenants', 2);
    expect(walked.length).toBeGreaterThanOrEqual(6);
    expect(walked).toContain(paged.tenant.id);
  });

  it('/devices with limit=2 yields every device once, in id order; an exact last page ends the walk', async () => {
    const walked = await walkAndCompare(`/devices?tenantId=${paged.tenant.id}`, 2);
    expect(walked).toEqual([...pagedDevices].sort());
    const pages = await api.pages(`/devices?tenantId=${paged.tenant.id}`, 3);
    expect(pages.map((page) => page.items.length)).toEqual([3, 3]);
    await walkAndCompare('/devices', 2);
  });

  it.each(['/tenants', '/sites', '/enrollment-tokens', '/agents', '/devices'])(
    '%s: an invalid cursor answers 400 INVALID_CURSOR; a bad limit 400 VALIDATION_FAILED',
    async (path) => {
      for (const cursor of ['garbage!', Buffer.from('not-a-uuid').toString('base64url'), '']) {
        const answer = await api.get(`${path}?cursor=${encodeURIComponent(cursor)}`);
        expect({ cursor, ...answer }).toMatchObject({ cursor, ...expectError(400, 'INVALID_CURSOR') });
      }
      for (const limit of ['0', '501', 'two']) {
        expect(await api.get(`${path}?limit=${limit}`)).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
      }
    },
  );
});

describe('device filters', () => {
  let x: TenantSession;
  let y: TenantSession;
  let x2: SiteRecord;

  beforeAll(async () => {
    x = await createTenantSession(cp, 'Filter Practice X');
    y = await createTenantSession(cp, 'Filter Practice Y');
    x2 = await x.createSite({ name: 'Filter Practice X – Annex' });
    const publish = async (agent: EnrolledAgent, devices: ReturnType<typeof device>[]) => {
      agents.push(agent);
      await agent.publishInventory(1, devices);
      await agent.waitForAck(1);
    };
    await publish(await x.enrollAgent(), [
      device(0x501, { category: 'infusion_pump', vendor: 'BD' }),
      device(0x502, { category: 'patient_monitor', vendor: 'Philips' }),
      device(0x503, { category: 'imaging', vendor: 'GE Healthcare' }),
      device(0x504, { category: 'patient_monitor', vendor: 'PHILIPS' }),
    ]);
    await publish(await x.enrollAgent({ siteId: x2.id }), [
      device(0x505, { category: 'infusion_pump', vendor: 'Baxter' }),
      device(0x506, { category: 'patient_monitor', vendor: 'philips' }),
    ]);
    await publish(await y.enrollAgent(), [
      device(0x507, { category: 'patient_monitor', vendor: 'Philips' }),
      device(0x508, { category: 'infusion_pump', vendor: 'bd' }),
    ]);
  });

  const macs = (...indexes: number[]) => indexes.map((i) => device(i).mac).sort();
  const found = async (query: string) =>
    ((await expectOk(api.get(`/devices?limit=500&${query}`))).items as { mac: string }[])
      .map((d) => d.mac)
      .filter((mac) => mac.startsWith('00:0a:f7:00:05:'))
      .sort();

  it('by tenant', async () => {
    expect(await found(`tenantId=${x.tenant.id}`)).toEqual(macs(0x501, 0x502, 0x503, 0x504, 0x505, 0x506));
    expect(await found(`tenantId=${y.tenant.id}`)).toEqual(macs(0x507, 0x508));
  });

  it('by site', async () => {
    expect(await found(`siteId=${x.site.id}`)).toEqual(macs(0x501, 0x502, 0x503, 0x504));
    expect(await found(`siteId=${x2.id}`)).toEqual(macs(0x505, 0x506));
    expect(await found(`tenantId=${y.tenant.id}&siteId=${x.site.id}`)).toEqual([]);
  });

  it('by category', async () => {
    expect(await found('category=patient_monitor')).toEqual(macs(0x502, 0x504, 0x506, 0x507));
    expect(await found('category=imaging')).toEqual(macs(0x503));
    expect(await found(`tenantId=${x.tenant.id}&category=infusion_pump`)).toEqual(macs(0x501, 0x505));
  });

  it('by vendor, exact and case-insensitive', async () => {
    expect(await found('vendor=philips')).toEqual(macs(0x502, 0x504, 0x506, 0x507));
    expect(await found('vendor=PHILIPS')).toEqual(macs(0x502, 0x504, 0x506, 0x507));
    expect(await found('vendor=Bd')).toEqual(macs(0x501, 0x508));
    expect(await found('vendor=Phil')).toEqual([]);
    expect(await found(`vendor=${encodeURIComponent('ge healthcare')}`)).toEqual(macs(0x503));
    expect(await found(`siteId=${x.site.id}&vendor=philips`)).toEqual(macs(0x502, 0x504));
  });

  it('the filter answers only matching devices, not just a superset', async () => {
    const page = await expectOk(api.get(`/devices?vendor=philips&category=patient_monitor`));
    expect(page.items).toHaveLength(4);
    expect(
      page.items.every(
        (d: { vendor: string; category: string }) =>
          d.vendor.toLowerCase() === 'philips' && d.category === 'patient_monitor',
      ),
    ).toBe(true);
  });

  it('bad filter values answer 400', async () => {
    for (const query of ['category=toaster', 'tenantId=not-a-uuid', 'siteId=123', 'vendor=']) {
      expect({ query, ...(await api.get(`/devices?${query}`)) }).toMatchObject({
        query,
        ...expectError(400, 'VALIDATION_FAILED'),
      });
    }
  });
});

describe('agents', () => {
  let session: TenantSession;
  let agent: EnrolledAgent;

  beforeAll(async () => {
    session = await createTenantSession(cp, 'Agent Status Practice');
    agent = await session.enrollAgent();
    agents.push(agent);
  });

  const ids = async (query: string) =>
    (await expectOk(api.get(`/agents?tenantId=${session.tenant.id}&${query}`))).items.map(
      (a: { id: string }) => a.id,
    );

  it('is never_seen until its first message, then online', async () => {
    const agentId = agent.identity.agentId;
    expect(await expectOk(api.get(`/agents/${agentId}`))).toMatchObject({
      id: agentId,
      tenantId: session.tenant.id,
      siteId: session.site.id,
      status: 'never_seen',
      lastSeenAt: null,
      ackedSeq: 0,
    });
    expect(await ids('status=never_seen')).toEqual([agentId]);
    expect(await ids('status=online')).toEqual([]);

    await agent.publishInventory(1, [device(0x700)]);
    await agent.waitForAck(1);

    const detail = await expectOk(api.get(`/agents/${agentId}`));
    expect(detail).toMatchObject({ status: 'online', ackedSeq: 1, messagesApplied: 1 });
    expect(Date.now() - Date.parse(detail.lastSeenAt)).toBeLessThan(60_000);
    expect(await ids('status=online')).toEqual([agentId]);
    expect(await ids('status=never_seen')).toEqual([]);
    expect(await ids('status=offline')).toEqual([]);
    const listed = (await expectOk(api.get(`/agents?tenantId=${session.tenant.id}`))).items;
    expect(listed).toEqual([expect.objectContaining({ id: agentId, status: 'online' })]);
  });

  it('an unknown status filter answers 400', async () => {
    expect(await api.get('/agents?status=asleep')).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
  });
});
