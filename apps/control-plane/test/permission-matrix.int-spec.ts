// The permission matrix: every route declares one permission, the README shows the matrix as the code
// has it, and every role is allowed exactly what the matrix grants it.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../src/common/auth/permissions.js';
import { ApiClient } from './support/api-client.js';
import { END, START, renderPermissionMatrix } from './support/permission-doc.js';
import { fillPath, routeTable, type Route } from './support/route-table.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const README = path.resolve(import.meta.dirname, '../../../README.md');
let cp: TestControlPlane;
let routes: Route[];

beforeAll(async () => {
  cp = await startTestControlPlane();
  routes = await routeTable(cp.httpUrl);
});

afterAll(async () => {
  await cp?.stop();
});

const relative = (route: Route) =>
  fillPath(
    route.path,
    Object.fromEntries(route.pathParams.map((name) => [name, '00000000-0000-4000-8000-000000000000'])),
  ).replace(/^\/api\/v1/, '');

describe('permission declarations', () => {
  it('every route is public or declares a known permission', () => {
    for (const route of routes) {
      if (route.public) continue;
      expect(PERMISSIONS, `${route.method} ${route.path}`).toContain(route.permission);
    }
  });

  it('every permission is used by some route or reserved for a documented purpose', () => {
    const used = new Set(routes.map((route) => route.permission));
    const unused = PERMISSIONS.filter((permission) => !used.has(permission));
    // Reserved until their routes land: user management (identity) and the audit trail.
    expect(
      unused.filter((p) => !['user:read', 'user:write', 'audit:read', 'audit:export'].includes(p)),
    ).toEqual([]);
  });

  it('the README shows the matrix as the code has it (UPDATE_DOCS=1 rewrites it)', async () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start, 'README has no permission-matrix markers').toBeGreaterThanOrEqual(0);
    const next = readme.slice(0, start) + renderPermissionMatrix(routes) + readme.slice(end + END.length);
    const options = (await prettier.resolveConfig(README)) ?? {};
    const expected = await prettier.format(next, { ...options, parser: 'markdown' });
    if (process.env.UPDATE_DOCS === '1') writeFileSync(README, expected);
    else expect(readme).toBe(expected);
  });
});

describe('access without a credential', () => {
  it('every non-public route answers 401 UNAUTHENTICATED', async () => {
    const anonymous = new ApiClient(cp.httpUrl, null);
    for (const route of routes.filter((r) => !r.public)) {
      const response = await anonymous.request(route.method, relative(route), route.hasBody ? {} : undefined);
      expect(`${route.method} ${route.path} → ${response.status} ${response.body?.error?.code}`).toMatch(
        /→ 401 UNAUTHENTICATED$/,
      );
    }
  });
});
