// Hostile input at every route of the route table: malformed JSON, huge bodies, wrong types, injection
// strings, invalid ids and query values. The answer is always a 4xx with an error code, never a 5xx, and
// the database is unchanged.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from './support/api-client.js';
import { fingerprint } from './support/db-fingerprint.js';
import { fillPath, routeTable, type Route } from './support/route-table.js';
import { createTenantSession, expectOk } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let owner: pg.Client;
let api: ApiClient;
let routes: Route[];

const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE tenants; --",
  '"; SELECT pg_sleep(5); --',
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  '${jndi:ldap://127.0.0.1/x}',
  '../../../../etc/passwd',
  'nul\u0000byte',
  '\u202eevil',
  'x'.repeat(5000),
];
const BAD_IDS = [
  'not-a-uuid',
  ...INJECTIONS.slice(0, 8).map(encodeURIComponent),
  '00000000-0000-0000-0000-00000000000g',
  '%',
  '%00',
];
const WRONG_TYPES: unknown[] = [12345, -1, 1e308, true, null, [], ['a'], { nested: { deep: 1 } }, ''];
const MALFORMED_BODIES = ['{', '{"a":', '[1,2', 'nul', '{"a":1,}', "{'a':1}", '\u0000', '{"a":"\\uZZZZ"}'];
const BAD_QUERIES = [
  'limit=-1',
  'limit=0',
  'limit=abc',
  'limit=100000',
  'limit=1e3',
  'cursor=%00',
  'cursor=bm90LWEtdXVpZA',
  "cursor=' OR 1=1",
  'tenantId=not-a-uuid',
  "tenantId=' OR 1=1",
  'siteId=1',
  'category=pump',
  'status=dead',
  `vendor=${'v'.repeat(500)}`,
  'limit=1&limit=2',
];

interface Probe {
  route: Route;
  method: string;
  path: string;
  body?: unknown;
  raw?: string;
}

const failures: string[] = [];
async function probe({ route, method, path, body, raw }: Probe): Promise<void> {
  let status: number;
  let code: unknown;
  try {
    const response = await api.request(method, path, body, raw);
    status = response.status;
    code = response.body?.error?.code;
  } catch (error) {
    failures.push(`${route.method} ${route.path} ${path}: request failed ${String(error)}`);
    return;
  }
  if (status < 400 || status >= 500 || typeof code !== 'string' || code.length === 0) {
    failures.push(
      `${method} ${path} body=${JSON.stringify(body ?? raw)?.slice(0, 80)} → ${status} ${String(code)}`,
    );
  }
}

const relative = (path: string) => path.replace(/^\/api\/v1/, '');
const withIds = (route: Route, id: string) =>
  relative(fillPath(route.path, Object.fromEntries(route.pathParams.map((name) => [name, id]))));

beforeAll(async () => {
  cp = await startTestControlPlane();
  owner = await cp.owner();
  api = new ApiClient(cp.httpUrl, cp.apiKey);
  await createTenantSession(cp);
  routes = (await routeTable(cp.httpUrl)).filter((route) => !route.public);
});

afterAll(async () => {
  await owner?.end();
  await cp?.stop();
});

describe('fuzzing every route', () => {
  it('never answers a 5xx or a success, and changes nothing', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const before = await fingerprint(owner);
    const probes: Probe[] = [];
    for (const route of routes) {
      if (route.pathParams.length > 0) {
        for (const id of BAD_IDS) probes.push({ route, method: route.method, path: withIds(route, id) });
      }
      // Beyond this point ids are well-formed but unknown, so nothing can be found and changed.
      const path = withIds(route, randomUUID());
      if (route.method === 'GET' && route.pathParams.length === 0) {
        for (const query of BAD_QUERIES) probes.push({ route, method: 'GET', path: `${path}?${query}` });
      }
      if (route.hasBody) {
        for (const raw of MALFORMED_BODIES) probes.push({ route, method: route.method, path, raw });
        probes.push({ route, method: route.method, path, raw: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
        for (const value of ['a string', 7, null, true, []])
          probes.push({ route, method: route.method, path, body: value });
        probes.push({ route, method: route.method, path, body: { unexpected: 'field' } });
        for (const [name, schema] of Object.entries(route.bodyProperties)) {
          for (const value of WRONG_TYPES) {
            if (schema.type === 'number' || schema.type === 'integer') {
              if (typeof value === 'number' && value > 0 && value < 1e6) continue;
            }
            probes.push({ route, method: route.method, path, body: { [name]: value } });
          }
          if (schema.format === 'uuid' || schema.type !== 'string') {
            for (const value of INJECTIONS)
              probes.push({ route, method: route.method, path, body: { [name]: value } });
          } else {
            probes.push({ route, method: route.method, path, body: { [name]: INJECTIONS.at(-1) } });
          }
        }
      }
    }
    for (const entry of probes) await probe(entry);
    expect(probes.length).toBeGreaterThan(300);
    expect(failures).toEqual([]);
    expect(await fingerprint(owner)).toEqual(before);
  }, 300_000);

  it('stores injection strings in free text as plain text', async () => {
    const name = "Robert'); DROP TABLE tenants;-- <script>alert(1)</script>";
    const tenant = await expectOk(api.post('/tenants', { name }));
    expect((await expectOk(api.get(`/tenants/${tenant.id}`))).name).toBe(name);
    const { rows } = await owner.query(`SELECT count(*)::int AS n FROM tenants`);
    expect(rows[0].n).toBeGreaterThanOrEqual(2);
  });
});

describe('the HTTP surface', () => {
  it('sends security headers on answers, errors included', async () => {
    for (const path of ['/api/v1/health/live', '/api/v1/tenants', '/api/v1/nowhere']) {
      const response = await fetch(`${cp.httpUrl}${path}`);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      expect(response.headers.get('content-security-policy'), path).toContain("default-src 'none'");
      expect(response.headers.get('cache-control'), path).toBe('no-store');
      expect(response.headers.get('x-powered-by'), path).toBeNull();
    }
    const refused = await fetch(`${cp.httpUrl}/api/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.apiKey}` },
      body: '{',
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
