// The permission matrix: every route declares one permission, the README shows the matrix as the code
// has it, and every role is allowed exactly what the matrix grants it.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLES, ROLE_PERMISSIONS, type Role } from '../src/common/auth/permissions.js';
import { ApiClient } from './support/api-client.js';
import { signInAs } from './support/identity-session.js';
import { END, START, renderPermissionMatrix } from './support/permission-doc.js';
import { fillPath, routeTable, type Route } from './support/route-table.js';
import { createTenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const README = path.resolve(import.meta.dirname, '../../../README.md');
let cp: TestControlPlane;
let routes: Route[];

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
  });
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

  it('every permission is used by some route', () => {
    const used = new Set(routes.map((route) => route.permission));
    expect(PERMISSIONS.filter((permission) => !used.has(permission))).toEqual([]);
  });

  it('job:confirm is granted to the roles that do or commission the work, never to the read-only ones', () => {
    const granted = ROLES.filter((role) => ROLE_PERMISSIONS[role].includes('job:confirm'));
    expect(granted).toEqual(['msp_admin', 'msp_technician', 'practice_admin']);
    const confirm = routes.find(
      (route) => route.method === 'POST' && route.path === '/api/v1/patch-jobs/{id}/confirm',
    );
    expect(confirm?.permission).toBe('job:confirm');
    const reads = routes.filter(
      (route) => route.method === 'GET' && route.path.startsWith('/api/v1/patch-jobs'),
    );
    expect(reads.map((route) => route.permission)).toEqual([
      'campaign:read',
      'campaign:read',
      'campaign:read',
    ]);
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

describe('every role against every route', () => {
  // Signing out ends the session the walk uses, so that route goes last.
  const ordered = () =>
    routes
      .filter((route) => !route.public)
      .sort((a, b) => Number(a.path.endsWith('/auth/logout')) - Number(b.path.endsWith('/auth/logout')));

  it.each(ROLES.map((role) => [role]))('%s is allowed exactly what the matrix grants', async (role: Role) => {
    const practice = await createTenantSession(cp);
    const signedIn = await signInAs(
      cp,
      role,
      role.startsWith('practice_') ? { tenantId: practice.tenant.id } : {},
    );
    const granted = new Set(ROLE_PERMISSIONS[role]);
    const wrong: string[] = [];
    for (const route of ordered()) {
      const response = await signedIn.api.request(
        route.method,
        relative(route),
        route.hasBody ? {} : undefined,
      );
      const refusedByMatrix =
        response.status === 403 && response.body?.error?.details?.permission === route.permission;
      const allowed = granted.has(route.permission as never);
      if (response.status === 401) wrong.push(`${route.method} ${route.path}: 401`);
      else if (allowed && refusedByMatrix) wrong.push(`${route.method} ${route.path}: refused but granted`);
      else if (!allowed && !refusedByMatrix)
        wrong.push(`${route.method} ${route.path}: ${response.status}, not refused`);
    }
    expect(wrong).toEqual([]);
  });
});
