// Tenant isolation where it has to hold even when the service layer slips: in PostgreSQL, as the app role,
// with the scope in the same transaction-local settings TenantDb uses; and at the API, where one
// organization's key never reaches another organization's objects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { MESSAGE_TYPES, uplinkTopic } from '@medfleet/contracts';
import { APP_ROLE } from '../src/database/migrations/1764720000000-foundation.js';
import { MissingTenantScopeError, TenantDb } from '../src/database/tenant-db.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import {
  INSUFFICIENT_PRIVILEGE,
  PERMISSION_DENIED,
  RLS_VIOLATION,
  asApp,
  beginAsApp,
  selectAsApp,
  type DbScope,
} from './support/app-role.js';
import { ApiClient } from './support/api-client.js';
import { enrollmentClient } from './support/grpc-client.js';
import {
  createTenantSession,
  device,
  expectOk,
  type IssuedToken,
  type TenantSession,
} from './support/tenant-session.js';
import { realDatabase, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

type TenantName = 'A' | 'B' | 'C';

/** One tenant's real rows, made through the API, gRPC enrollment and MQTT ingest. */
interface TenantFacts {
  session: TenantSession;
  tenantId: string;
  organizationId: string;
  siteId: string;
  agentId: string;
  deviceId: string;
  tokenId: string;
}

let cp: TestControlPlane;
let owner: pg.Client;
let org1: string;
let org2: string;
let org2Key: string;
/** A and B belong to organization 1 (the bootstrap one), C to organization 2. */
const tenants = {} as Record<TenantName, TenantFacts>;
/** An unused token of tenant A, for the cross-organization revoke attempt. */
let spareTokenA: IssuedToken;

async function populate(session: TenantSession, firstDevice: number): Promise<TenantFacts> {
  const agent = await session.enrollAgent();
  try {
    await agent.publishInventory(1, [
      device(firstDevice),
      device(firstDevice + 1, { category: 'patient_monitor', vendor: 'Philips' }),
    ]);
    await agent.waitForAck(1);
    // A message of an unknown protocol version under the agent's own topic: a dead letter claimed by
    // this tenant (committed under its seq, so the ack moves on).
    await agent.publishRaw(
      uplinkTopic(agent.identity, 'inventory'),
      JSON.stringify({
        v: 2,
        agentId: agent.identity.agentId,
        seq: 2,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.inventory,
        body: { complete: true, devices: [] },
      }),
    );
    await agent.waitForAck(2);
  } finally {
    await agent.close();
  }
  const devices = await expectOk(session.api.get(`/devices?tenantId=${session.tenant.id}`));
  const tokens = await expectOk(session.api.get(`/enrollment-tokens?tenantId=${session.tenant.id}`));
  expect(devices.items).toHaveLength(2);
  expect(tokens.items).toHaveLength(1);
  return {
    session,
    tenantId: session.tenant.id,
    organizationId: session.tenant.organizationId,
    siteId: session.site.id,
    agentId: agent.identity.agentId,
    deviceId: devices.items[0].id,
    tokenId: tokens.items[0].id,
  };
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  const second = await cp.app.get(OrganizationService).create('Second MSP', 'second-msp');
  org2 = second.organization.id;
  org2Key = second.apiKey.token;
  tenants.A = await populate(await createTenantSession(cp, 'Isolation A'), 0x100);
  tenants.B = await populate(await createTenantSession(cp, 'Isolation B'), 0x200);
  tenants.C = await populate(await createTenantSession(cp, 'Isolation C', { apiKey: org2Key }), 0x300);
  org1 = tenants.A.organizationId;
  spareTokenA = await tenants.A.session.issueToken({ label: 'spare', maxUses: 1 });
  owner = await cp.owner();
});

afterAll(async () => {
  await owner?.end();
  await cp?.stop();
});

const id = (name: TenantName) => tenants[name].tenantId;

interface TableCase {
  table: string;
  /** The column naming the row's tenant (dead letters: the tenant the topic claimed). */
  column: string;
  /** A harmless SET clause; null when the app role has no UPDATE grant on the table at all. */
  set: string | null;
  /** A complete, otherwise valid row for tenant `t`; null when inserting is open to the app by design. */
  insert: ((t: TenantFacts) => [string, unknown[]]) | null;
}

const TABLES: TableCase[] = [
  {
    table: 'sites',
    column: 'tenant_id',
    set: `name = name || ' (forged)'`,
    insert: (t) => [
      `INSERT INTO sites (tenant_id, id, name, time_zone) VALUES ($1, gen_random_uuid(), 'Forged site', 'UTC')`,
      [t.tenantId],
    ],
  },
  {
    table: 'enrollment_tokens',
    column: 'tenant_id',
    set: 'max_uses = 1000',
    insert: (t) => [
      `INSERT INTO enrollment_tokens (tenant_id, id, site_id, token_hash, expires_at, max_uses, created_by)
       VALUES ($1, gen_random_uuid(), $2, '\\xdeadbeef', now() + interval '1 day', 1000, 'forged')`,
      [t.tenantId, t.siteId],
    ],
  },
  {
    table: 'agents',
    column: 'tenant_id',
    set: `hostname = 'forged'`,
    insert: (t) => [
      `INSERT INTO agents (tenant_id, id, site_id, hostname, agent_version, os, arch, serial,
                           inventory_interval_sec, health_interval_sec)
       VALUES ($1, gen_random_uuid(), $2, 'forged', '0', 'linux', 'x64', 'FORGED', 60, 60)`,
      [t.tenantId, t.siteId],
    ],
  },
  {
    table: 'devices',
    column: 'tenant_id',
    set: `vendor = 'Forged'`,
    insert: (t) => [
      `INSERT INTO devices (tenant_id, site_id, mac, category, first_seen_at, last_seen_at, reporting_agent_id)
       VALUES ($1, $2, '02:00:00:00:99:99', 'unknown', now(), now(), $3)`,
      [t.tenantId, t.siteId, t.agentId],
    ],
  },
  {
    table: 'ingested_messages',
    column: 'tenant_id',
    set: null,
    insert: (t) => [
      `INSERT INTO ingested_messages (tenant_id, agent_id, seq, stream, outcome)
       VALUES ($1, $2, 999, 'inventory', 'applied')`,
      [t.tenantId, t.agentId],
    ],
  },
  // Ingest writes refusals before any tenant is known, so INSERT is open (WITH CHECK true) by design.
  { table: 'dead_letters', column: 'claimed_tenant_id', set: null, insert: null },
];

const INSERTABLE = TABLES.filter((t) => t.insert !== null);
const UPDATABLE = TABLES.filter((t) => t.set !== null);

interface ScopeCase {
  name: string;
  scope: () => DbScope;
  sees: TenantName[];
  forbidden: TenantName[];
}

const SCOPES: ScopeCase[] = [
  { name: 'tenant A alone', scope: () => ({ tenantIds: [id('A')] }), sees: ['A'], forbidden: ['B', 'C'] },
  { name: 'organization 1', scope: () => ({ organizationId: org1 }), sees: ['A', 'B'], forbidden: ['C'] },
  { name: 'organization 2', scope: () => ({ organizationId: org2 }), sees: ['C'], forbidden: ['A', 'B'] },
  { name: 'tenant C alone', scope: () => ({ tenantIds: [id('C')] }), sees: ['C'], forbidden: ['A', 'B'] },
];

const sorted = (values: unknown[]) => [...new Set(values.map(String))].sort();

describe('the fixture', () => {
  it('gives every tenant real rows in every tenant-owned table (seen by the owner)', async () => {
    for (const name of ['A', 'B', 'C'] as const) {
      for (const { table, column } of TABLES) {
        const { rows } = await owner.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [
          id(name),
        ]);
        expect({ name, table, n: rows[0].n > 0 }).toEqual({ name, table, n: true });
      }
    }
    expect(org1).not.toBe(org2);
    expect(tenants.C.organizationId).toBe(org2);
    expect(tenants.B.organizationId).toBe(org1);
  });
});

describe('catalog', () => {
  const FORCED = ['organizations', 'tenants', ...TABLES.map((t) => t.table)];

  it.each(FORCED)('%s has row-level security enabled and forced', async (table) => {
    const { rows } = await owner.query(
      `SELECT relrowsecurity, relforcerowsecurity FROM pg_class
        WHERE oid = to_regclass($1)`,
      [`public.${table}`],
    );
    expect(rows).toEqual([{ relrowsecurity: true, relforcerowsecurity: true }]);
  });

  it('every table with a tenant column is forced, except the documented authentication material', async () => {
    const { rows } = await owner.query(
      `SELECT DISTINCT c.relname AS table, c.relforcerowsecurity AS forced
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT a.attisdropped
          AND a.attname IN ('tenant_id', 'claimed_tenant_id', 'organization_id')
        ORDER BY 1`,
    );
    const unforced = rows.filter((row) => !row.forced).map((row) => row.table);
    // Looked up before any tenant context exists, and holding only hashes (see the migration).
    expect(unforced.sort()).toEqual(['agent_credentials', 'org_api_keys']);
    expect(rows.map((row) => row.table)).toEqual(
      expect.arrayContaining(FORCED.filter((t) => t !== 'organizations')),
    );
  });

  it(`${APP_ROLE} is no superuser, cannot bypass RLS, cannot log in and owns nothing`, async () => {
    const { rows } = await owner.query(
      `SELECT r.rolsuper, r.rolbypassrls, r.rolcanlogin,
              (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned_relations,
              (SELECT count(*)::int FROM pg_proc p WHERE p.proowner = r.oid) AS owned_functions
         FROM pg_roles r WHERE r.rolname = $1`,
      [APP_ROLE],
    );
    expect(rows).toEqual([
      { rolsuper: false, rolbypassrls: false, rolcanlogin: false, owned_relations: 0, owned_functions: 0 },
    ]);
  });

  it('every table is owned by a role other than the app role', async () => {
    const { rows } = await owner.query(
      `SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(rows.filter((row) => row.owner === APP_ROLE)).toEqual([]);
  });
});

describe.each(SCOPES)('a transaction as the app role scoped to $name', ({ scope, sees, forbidden }) => {
  it.each(TABLES)('$table: SELECT sees exactly its own tenants’ rows', async ({ table, column }) => {
    const rows = await selectAsApp(owner, scope(), `SELECT ${column} AS tenant FROM ${table}`);
    expect(sorted(rows.map((row) => row.tenant))).toEqual(sorted(sees.map(id)));
    for (const other of forbidden) {
      const direct = await selectAsApp(owner, scope(), `SELECT * FROM ${table} WHERE ${column} = $1`, [
        id(other),
      ]);
      expect(direct).toEqual([]);
    }
  });

  it.each(TABLES)(
    '$table: UPDATE and DELETE of other tenants’ rows do nothing',
    async ({ table, column, set }) => {
      for (const other of forbidden) {
        const update = await asApp(
          owner,
          scope(),
          `UPDATE ${table} SET ${set ?? `${column} = ${column}`} WHERE ${column} = $1`,
          [id(other)],
        );
        if (set) {
          expect(update).toEqual({ ok: true, rowCount: 0, rows: [] });
        } else {
          expect(update).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
          expect(update.ok ? '' : update.message).toMatch(PERMISSION_DENIED);
        }
        const remove = await asApp(owner, scope(), `DELETE FROM ${table} WHERE ${column} = $1`, [id(other)]);
        expect(remove).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
        expect(remove.ok ? '' : remove.message).toMatch(PERMISSION_DENIED);
      }
    },
  );

  it.each(UPDATABLE)(
    '$table: an UPDATE without WHERE touches only its own tenants’ rows',
    async ({ table, column, set }) => {
      const rows = await selectAsApp(
        owner,
        scope(),
        `UPDATE ${table} SET ${set} RETURNING ${column} AS tenant`,
      );
      expect(sorted(rows.map((row) => row.tenant))).toEqual(sorted(sees.map(id)));
    },
  );

  it.each(UPDATABLE)('$table: cannot move its own rows into another tenant', async ({ table, column }) => {
    for (const other of forbidden) {
      const moved = await asApp(owner, scope(), `UPDATE ${table} SET ${column} = $1 WHERE ${column} = $2`, [
        id(other),
        id(sees[0] as TenantName),
      ]);
      expect(moved).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
      expect(moved.ok ? '' : moved.message).toMatch(RLS_VIOLATION);
    }
  });

  it.each(INSERTABLE)(
    '$table: INSERT for another tenant violates the policy; for its own it works',
    async ({ insert }) => {
      for (const other of forbidden) {
        const [sql, params] = (insert as NonNullable<TableCase['insert']>)(tenants[other]);
        const forged = await asApp(owner, scope(), sql, params);
        expect(forged).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
        expect(forged.ok ? '' : forged.message).toMatch(RLS_VIOLATION);
      }
      const [sql, params] = (insert as NonNullable<TableCase['insert']>)(tenants[sees[0] as TenantName]);
      expect(await asApp(owner, scope(), sql, params)).toMatchObject({ ok: true, rowCount: 1 });
    },
  );
});

describe('tenants and organizations as the app role', () => {
  it('a tenant-scoped transaction sees its own tenant row and no organization', async () => {
    const scope = { tenantIds: [id('A')] };
    expect(await selectAsApp(owner, scope, `SELECT id FROM tenants`)).toEqual([{ id: id('A') }]);
    expect(await selectAsApp(owner, scope, `SELECT id FROM organizations`)).toEqual([]);
  });

  it('an organization-scoped transaction sees its own tenants and organization only', async () => {
    const one = { organizationId: org1 };
    expect(sorted((await selectAsApp(owner, one, `SELECT id FROM tenants`)).map((r) => r.id))).toEqual(
      sorted([id('A'), id('B')]),
    );
    expect(await selectAsApp(owner, one, `SELECT id FROM organizations`)).toEqual([{ id: org1 }]);
    const two = { organizationId: org2 };
    expect(await selectAsApp(owner, two, `SELECT id FROM tenants`)).toEqual([{ id: id('C') }]);
    expect(await selectAsApp(owner, two, `SELECT id FROM organizations`)).toEqual([{ id: org2 }]);
  });

  it('cannot rename another organization’s tenant or the organization itself', async () => {
    const scope = { organizationId: org1 };
    expect(
      await asApp(owner, scope, `UPDATE tenants SET name = 'Hijacked' WHERE id = $1`, [id('C')]),
    ).toEqual({ ok: true, rowCount: 0, rows: [] });
    expect(
      await asApp(owner, scope, `UPDATE organizations SET name = 'Hijacked' WHERE id = $1`, [org2]),
    ).toEqual({ ok: true, rowCount: 0, rows: [] });
  });

  it('cannot create a tenant in, or move its tenant to, another organization', async () => {
    const scope = { organizationId: org1 };
    const created = await asApp(
      owner,
      scope,
      `INSERT INTO tenants (id, organization_id, name) VALUES (gen_random_uuid(), $1, 'Planted')`,
      [org2],
    );
    expect(created).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
    expect(created.ok ? '' : created.message).toMatch(RLS_VIOLATION);
    const moved = await asApp(owner, scope, `UPDATE tenants SET organization_id = $1 WHERE id = $2`, [
      org2,
      id('A'),
    ]);
    expect(moved).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
    expect(moved.ok ? '' : moved.message).toMatch(RLS_VIOLATION);
  });

  it('a tenant-scoped transaction cannot create a tenant even in its own organization', async () => {
    const created = await asApp(
      owner,
      { tenantIds: [id('A')] },
      `INSERT INTO tenants (id, organization_id, name) VALUES (gen_random_uuid(), $1, 'Sibling')`,
      [org1],
    );
    expect(created).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
  });
});

describe('no tenant set means no rows', () => {
  const ALL = ['organizations', 'tenants', ...TABLES.map((t) => t.table)];

  it.each(ALL)(
    '%s: nothing visible without settings, with empty settings, or via TenantDb.unscoped',
    async (table) => {
      const { rows: asOwner } = await owner.query(`SELECT count(*)::int AS n FROM ${table}`);
      expect(asOwner[0].n).toBeGreaterThan(0);
      expect(await selectAsApp(owner, null, `SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 0 }]);
      expect(
        await selectAsApp(
          owner,
          { organizationId: null, tenantIds: [] },
          `SELECT count(*)::int AS n FROM ${table}`,
        ),
      ).toEqual([{ n: 0 }]);
      const unscoped = (await cp.app
        .get(TenantDb)
        .unscoped((db) => db.query(`SELECT count(*)::int AS n FROM ${table}`))) as { n: number }[];
      expect(unscoped).toEqual([{ n: 0 }]);
    },
  );

  it('TenantDb refuses to open a transaction without a scope', async () => {
    await expect(
      cp.app.get(TenantDb).run({ organizationId: null, tenantIds: [] }, () => Promise.resolve(1)),
    ).rejects.toBeInstanceOf(MissingTenantScopeError);
  });

  it('pool sessions hold no privileges beyond the app role', async () => {
    const dataSource = cp.app.get(DataSource);
    // TenantDb's own transactions always switch to the app role first.
    expect(await cp.app.get(TenantDb).unscoped((db) => db.query(`SELECT current_user AS role`))).toEqual([
      { role: APP_ROLE },
    ]);
    if (realDatabase) {
      // On a real server every pooled session starts as the app role, so even a query that escaped
      // TenantDb sees no tenant's rows. (Embedded PGlite shares one backend: no session-level role there.)
      expect(await dataSource.query(`SELECT current_user AS role`)).toEqual([{ role: APP_ROLE }]);
      for (const table of ALL) {
        expect({ table, rows: await dataSource.query(`SELECT count(*)::int AS n FROM ${table}`) }).toEqual({
          table,
          rows: [{ n: 0 }],
        });
      }
    }
  });
});

describe('a connection reused after an error carries no stale tenant', () => {
  const visible = async (client: pg.Client) =>
    (
      await client.query(
        `SELECT (SELECT count(*)::int FROM sites) AS sites, (SELECT count(*)::int FROM devices) AS devices,
                current_setting('medfleet.tenant_ids', true) AS tenant_ids,
                current_setting('medfleet.org_id', true) AS org_id, current_user AS role`,
      )
    ).rows[0];

  it('on a direct connection', async () => {
    await beginAsApp(owner, { tenantIds: [id('A')] });
    expect(await visible(owner)).toMatchObject({ sites: 1, devices: 2, tenant_ids: id('A'), role: APP_ROLE });
    await expect(owner.query(`SELECT 1 / 0`)).rejects.toThrow(/division by zero/);
    await owner.query('ROLLBACK');

    // The role switch ended with the transaction, and so did the tenant.
    const { rows } = await owner.query(`SELECT current_user AS role`);
    expect(rows[0].role).not.toBe(APP_ROLE);
    await beginAsApp(owner, null);
    try {
      const after = await visible(owner);
      expect(after).toMatchObject({ sites: 0, devices: 0, role: APP_ROLE });
      expect(after.tenant_ids ?? '').toBe('');
      expect(after.org_id ?? '').toBe('');
    } finally {
      await owner.query('ROLLBACK');
    }
  });

  it('on a connection of the application’s own pool', async () => {
    const runner = cp.app.get(DataSource).createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`SET LOCAL ROLE ${APP_ROLE}`);
      await runner.query(
        `SELECT set_config('medfleet.org_id', $1, true), set_config('medfleet.tenant_ids', '', true)`,
        [org1],
      );
      expect(await runner.query(`SELECT count(*)::int AS n FROM tenants`)).toEqual([{ n: 2 }]);
      await expect(runner.query(`SELECT * FROM no_such_table`)).rejects.toThrow(/no_such_table/);
      await runner.rollbackTransaction();

      await runner.startTransaction();
      await runner.query(`SET LOCAL ROLE ${APP_ROLE}`);
      expect(
        await runner.query(
          `SELECT (SELECT count(*)::int FROM tenants) AS tenants, (SELECT count(*)::int FROM agents) AS agents,
                  coalesce(current_setting('medfleet.org_id', true), '') AS org_id`,
        ),
      ).toEqual([{ tenants: 0, agents: 0, org_id: '' }]);
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('TenantDb: a scope whose work failed is gone for the next unscoped transaction', async () => {
    const tenantDb = cp.app.get(TenantDb);
    await expect(
      tenantDb.run({ organizationId: null, tenantIds: [id('B')] }, async (tx) => {
        expect(await tx.db.query(`SELECT count(*)::int AS n FROM agents`)).toEqual([{ n: 1 }]);
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    for (let i = 0; i < 6; i++) {
      // Enough rounds to come back to the same pooled connection whatever the pool size.
      expect(await tenantDb.unscoped((db) => db.query(`SELECT count(*)::int AS n FROM agents`))).toEqual([
        { n: 0 },
      ]);
    }
  });
});

describe('API: organization 2 cannot reach organization 1', () => {
  let other: ApiClient;
  let mine: ApiClient;
  const notFound = { status: 404, body: { error: { code: 'NOT_FOUND' } } };

  beforeAll(() => {
    other = new ApiClient(cp.httpUrl, org2Key);
    mine = new ApiClient(cp.httpUrl, cp.apiKey);
  });

  it('every GET /:id of organization 1’s objects answers 404 NOT_FOUND', async () => {
    const a = tenants.A;
    const paths = [
      `/organizations/${org1}`,
      `/tenants/${a.tenantId}`,
      `/sites/${a.siteId}`,
      `/enrollment-tokens/${a.tokenId}`,
      `/agents/${a.agentId}`,
      `/devices/${a.deviceId}`,
    ];
    for (const path of paths) {
      // The owner organization does see each of them, so the 404 is isolation, not a bad id.
      expect({ path, status: (await mine.get(path)).status }).toEqual({ path, status: 200 });
      expect({ path, ...(await other.get(path)) }).toMatchObject({ path, ...notFound });
    }
  });

  it('PATCH of organization 1’s tenant and site answers 404 and changes nothing', async () => {
    const a = tenants.A;
    const tenantBefore = await expectOk(mine.get(`/tenants/${a.tenantId}`));
    const siteBefore = await expectOk(mine.get(`/sites/${a.siteId}`));
    expect(await other.patch(`/tenants/${a.tenantId}`, { name: 'Hijacked' })).toMatchObject(notFound);
    expect(
      await other.patch(`/sites/${a.siteId}`, { name: 'Hijacked', timeZone: 'Pacific/Honolulu' }),
    ).toMatchObject(notFound);
    expect(await expectOk(mine.get(`/tenants/${a.tenantId}`))).toEqual(tenantBefore);
    expect(await expectOk(mine.get(`/sites/${a.siteId}`))).toEqual(siteBefore);
  });

  it('organization 2’s lists hold its own objects and none of organization 1’s', async () => {
    const theirs = new Set(
      (['A', 'B'] as const).flatMap((n) => [
        org1,
        tenants[n].tenantId,
        tenants[n].siteId,
        tenants[n].agentId,
        tenants[n].deviceId,
        tenants[n].tokenId,
      ]),
    );
    const lists: [string, string][] = [
      ['/organizations', org2],
      ['/tenants', tenants.C.tenantId],
      ['/sites', tenants.C.siteId],
      ['/enrollment-tokens', tenants.C.tokenId],
      ['/agents', tenants.C.agentId],
      ['/devices', tenants.C.deviceId],
    ];
    for (const [path, own] of lists) {
      const ids = (await expectOk(other.get(path))).items.map((item: { id: string }) => item.id);
      expect({ path, own: ids.includes(own) }).toEqual({ path, own: true });
      expect({ path, leaked: ids.filter((value: string) => theirs.has(value)) }).toEqual({
        path,
        leaked: [],
      });
    }
    for (const path of ['/sites', '/enrollment-tokens', '/agents', '/devices', '/dead-letters']) {
      const filtered = await expectOk(other.get(`${path}?tenantId=${tenants.A.tenantId}`));
      expect({ path, items: filtered.items }).toEqual({ path, items: [] });
    }
    const letters = await expectOk(other.get('/dead-letters'));
    expect(letters.items.map((item: { tenantId: string }) => item.tenantId)).toEqual([tenants.C.tenantId]);
    expect(await expectOk(other.get('/dead-letters/summary'))).toEqual({
      byReason: { UNSUPPORTED_VERSION: 1 },
    });
  });

  it('POST /sites for organization 1’s tenant answers 404 and creates nothing', async () => {
    const before = await expectOk(mine.get(`/sites?tenantId=${tenants.A.tenantId}`));
    expect(
      await other.post('/sites', {
        tenantId: tenants.A.tenantId,
        name: 'Planted',
        timeZone: 'America/New_York',
      }),
    ).toMatchObject(notFound);
    expect(await expectOk(mine.get(`/sites?tenantId=${tenants.A.tenantId}`))).toEqual(before);
  });

  it('POST /enrollment-tokens for organization 1’s site answers 404 and issues nothing', async () => {
    const before = await expectOk(mine.get(`/enrollment-tokens?siteId=${tenants.A.siteId}`));
    expect(await other.post('/enrollment-tokens', { siteId: tenants.A.siteId })).toMatchObject(notFound);
    expect(await expectOk(mine.get(`/enrollment-tokens?siteId=${tenants.A.siteId}`))).toEqual(before);
  });

  it('revoking organization 1’s token answers 404 and the token still enrolls', async () => {
    expect(await other.post(`/enrollment-tokens/${spareTokenA.id}/revoke`)).toMatchObject(notFound);
    expect(await expectOk(mine.get(`/enrollment-tokens/${spareTokenA.id}`))).toMatchObject({
      state: 'active',
      revokedAt: null,
    });
    const grpc = enrollmentClient(cp.grpcAddress);
    try {
      const identity = await grpc.enroll({ token: spareTokenA.token });
      expect(identity).toMatchObject({ tenantId: tenants.A.tenantId, siteId: tenants.A.siteId });
    } finally {
      grpc.close();
    }
    expect(await expectOk(mine.get(`/enrollment-tokens/${spareTokenA.id}`))).toMatchObject({
      state: 'exhausted',
      uses: 1,
    });
  });
});
