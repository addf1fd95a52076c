// The audit trail as an auditor meets it: every change recorded with who, from where, before and after;
// hash chains that verify, and that name the first broken entry when a superuser edits, deletes or
// reorders one; an app role that cannot change the log; actions that do not happen when their entry
// cannot be written; exports that parse and verify offline; isolation between tenants and organizations;
// chains intact under concurrent writes; and a retention purge that leaves the chain verifiable.
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationScope } from '../src/common/auth/principal.js';
import { APP_ROLE } from '../src/database/migrations/1764720000000-foundation.js';
import { GENESIS_HASH, entryHash } from '../src/modules/audit/audit-hash.util.js';
import { GENERATED_KEY_FILE } from '../src/modules/audit/audit-signer.js';
import { CSV_COLUMNS } from '../src/modules/audit/audit-view.js';
import {
  executeAuditCommand,
  type AuditCommand,
  type AuditCommandOptions,
} from '../src/modules/audit/audit.cli.js';
import { AuditService } from '../src/modules/audit/audit.service.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { INSUFFICIENT_PRIVILEGE, PERMISSION_DENIED, asApp, selectAsApp } from './support/app-role.js';
import { ApiClient } from './support/api-client.js';
import { auditEntries, chainRows, parseCsv, tamper, type AuditEntry } from './support/audit.js';
import { enrollmentClient } from './support/grpc-client.js';
import { createTenantSession, expectOk, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const CHECKPOINT_EVERY = 5;
const USER_AGENT = 'medfleet-audit-test/1.0';

let cp: TestControlPlane;
let owner: pg.Client;
let api: ApiClient;
let keyId: string;
let orgId: string;
let practice: TenantSession;

beforeAll(async () => {
  cp = await startTestControlPlane({ AUDIT_CHECKPOINT_EVERY: String(CHECKPOINT_EVERY) });
  owner = await cp.owner();
  api = new ApiClient(cp.httpUrl, cp.apiKey);
  keyId = /^mfk_([0-9a-f-]{36})_/.exec(cp.apiKey)?.[1] as string;
  practice = await createTenantSession(cp, 'Audit Practice A');
  orgId = practice.tenant.organizationId;
});

afterAll(async () => {
  await owner?.end();
  await cp?.stop();
});

/** Runs an audit command as the CLI does, beside the running control plane. */
async function cli(command: AuditCommand, options: AuditCommandOptions = {}) {
  let output = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      output += String(chunk);
      done();
    },
  });
  const code = await executeAuditCommand(
    command,
    { url: cp.databaseUrl, embedded: cp.config.embeddedDatabase, poolSize: 1 },
    cp.config,
    { warn: () => undefined },
    options,
    out,
  );
  return { code, output };
}

async function verifyTenant(tenantId: string, client = api) {
  return expectOk(client.get(`/audit/verify?tenantId=${tenantId}`));
}

/** A fresh tenant whose chain holds six entries: tenant.create, then five site.create (checkpoint at 5). */
async function sixEntryChain(
  label: string,
): Promise<{ tenantId: string; rows: Awaited<ReturnType<typeof chainRows>> }> {
  const session = await createTenantSession(cp, `Audit ${label}`);
  for (let i = 0; i < 4; i += 1) await session.createSite();
  const rows = await chainRows(owner, session.tenant.id);
  expect(rows.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  return { tenantId: session.tenant.id, rows };
}

describe('recording', () => {
  let entries: AuditEntry[];
  let tokenId: string;
  let token: string;
  let agentId: string;

  beforeAll(async () => {
    const renamed = await fetch(`${cp.httpUrl}/api/v1/tenants/${practice.tenant.id}`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${cp.apiKey}`,
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
      },
      body: JSON.stringify({ name: 'Audit Practice A (renamed)' }),
    });
    expect(renamed.status).toBe(200);
    await expectOk(api.patch(`/sites/${practice.site.id}`, { county: 'Broward' }));
    const issued = await practice.issueToken({ label: 'audited token' });
    tokenId = issued.id;
    token = issued.token;
    await expectOk(api.post(`/enrollment-tokens/${tokenId}/revoke`));
    const agent = await practice.enrollAgent();
    agentId = agent.identity.agentId;
    await agent.close();
    const client = enrollmentClient(cp.grpcAddress);
    try {
      await expect(client.enroll({ token })).rejects.toThrow(/TOKEN_REVOKED/);
    } finally {
      client.close();
    }
    entries = await auditEntries(api, `tenantId=${practice.tenant.id}`);
  });

  const one = (action: string) => {
    const found = entries.filter((entry) => entry.action === action);
    expect(found, action).toHaveLength(1);
    return found[0] as AuditEntry;
  };

  it('writes one entry per change into the tenant’s chain, with contiguous seqs', async () => {
    expect(entries.map((entry) => entry.action).sort()).toEqual(
      [
        'agent.enroll',
        'agent.enroll_failed',
        'enrollment_token.create',
        'enrollment_token.create',
        'enrollment_token.revoke',
        'site.create',
        'site.update',
        'tenant.create',
        'tenant.update',
      ].sort(),
    );
    expect(entries.every((entry) => entry.chainKey === practice.tenant.id)).toBe(true);
    expect(
      entries.every((entry) => entry.tenantId === practice.tenant.id && entry.organizationId === orgId),
    ).toBe(true);
    // Newest first, as the API lists them; the chain itself is 1..n.
    expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, i) => entries.length - i));
  });

  it('names the actor, the source and the object, with before and after', () => {
    const update = one('tenant.update');
    expect(update).toMatchObject({
      actor: { kind: 'api_key', id: keyId, display: 'initial', credential: null },
      source: { ip: '127.0.0.1', userAgent: USER_AGENT },
      target: { type: 'tenant', id: practice.tenant.id },
      before: { name: 'Audit Practice A' },
      after: { name: 'Audit Practice A (renamed)' },
    });
    expect(one('tenant.create')).toMatchObject({
      before: null,
      after: { id: practice.tenant.id, organizationId: orgId },
    });
    expect(one('site.create').after).toMatchObject({ id: practice.site.id, timeZone: 'America/New_York' });
    expect(one('site.update')).toMatchObject({
      target: { type: 'site', id: practice.site.id },
      before: { county: 'Miami-Dade' },
      after: { county: 'Broward' },
    });
    expect(one('enrollment_token.revoke')).toMatchObject({
      target: { type: 'enrollment_token', id: tokenId },
      before: { state: 'active', revokedAt: null },
      after: { state: 'revoked' },
    });
  });

  it('records agent enrollment, and a refused one, with the agent as actor', () => {
    expect(one('agent.enroll')).toMatchObject({
      actor: { kind: 'agent', id: agentId, display: 'test-agent' },
      target: { type: 'agent', id: agentId },
      after: { hostname: 'test-agent', serial: 'TEST-SERIAL' },
    });
    expect(one('agent.enroll_failed')).toMatchObject({
      actor: { kind: 'anonymous', id: null, credential: `enrollment_token:${tokenId}` },
      target: { type: 'enrollment_token', id: tokenId },
      details: { reason: 'revoked' },
    });
  });

  it('never records a secret: no token, no token hash, no agent password', () => {
    const text = JSON.stringify(entries);
    expect(text).not.toContain(token);
    expect(text).not.toMatch(/tokenHash|secretHash|keyHash|password/);
    for (const created of entries.filter((entry) => entry.action === 'enrollment_token.create')) {
      expect(created.after).not.toHaveProperty('token');
    }
  });

  it('records organization creation and its API key in the organization’s chain', async () => {
    const created = await auditEntries(api, 'action=organization.create');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      chainKey: orgId,
      tenantId: null,
      seq: 1,
      actor: { kind: 'system', id: null, display: 'first-start bootstrap' },
      after: { id: orgId, name: 'Default MSP', slug: 'default' },
    });
    const keys = await auditEntries(api, 'action=api_key.*');
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({
      target: { type: 'api_key', id: keyId },
      after: { id: keyId, name: 'initial' },
    });
    expect(JSON.stringify(keys)).not.toContain(/^mfk_[0-9a-f-]{36}_(.+)$/.exec(cp.apiKey)?.[1]);
  });

  it('records each read of the trail once, with its filters', async () => {
    const reads = await auditEntries(api, `tenantId=${practice.tenant.id}&action=audit.read`);
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads.at(-1)).toMatchObject({
      action: 'audit.read',
      actor: { kind: 'api_key', id: keyId },
      details: { filters: { tenantId: practice.tenant.id } },
    });
  });

  it('lets the identity module record a sign-in failure that has no transaction of its own', async () => {
    await cp.app.get(AuditService).recordStandalone(organizationScope(orgId), {
      action: 'auth.sign_in_failed',
      actor: { kind: 'anonymous', id: null, display: 'mallory@example.com' },
      details: { reason: 'bad_password', password: 'hunter2' },
      source: { ip: '203.0.113.7', userAgent: 'curl/8' },
    });
    const [failed] = await auditEntries(api, 'action=auth.sign_in_failed');
    expect(failed).toMatchObject({
      chainKey: orgId,
      tenantId: null,
      actor: { kind: 'anonymous', display: 'mallory@example.com' },
      source: { ip: '203.0.113.7', userAgent: 'curl/8' },
      details: { reason: 'bad_password', password: '[redacted]' },
    });
  });

  it('pages newest first with keyset cursors, and refuses bad filters', async () => {
    const all = await auditEntries(api, `tenantId=${practice.tenant.id}&action=enrollment_token.create`);
    const pages = await api.pages<AuditEntry>(
      `/audit/entries?tenantId=${practice.tenant.id}&action=enrollment_token.create`,
      1,
    );
    expect(pages.length).toBe(all.length);
    expect(pages.flatMap((page) => page.items.map((entry) => entry.id))).toEqual(
      all.map((entry) => entry.id),
    );
    expect(await api.get('/audit/entries?cursor=bm90LWEtY3Vyc29y')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_CURSOR' } },
    });
    for (const query of ['action=DROP%20TABLE', 'actor=%27%20OR%201%3D1', 'from=yesterday', 'tenantId=x']) {
      expect((await api.get(`/audit/entries?${query}`)).status, query).toBe(400);
    }
  });
});

describe('verification', () => {
  it('finds every chain intact, through the API and the CLI', async () => {
    const report = await expectOk(api.get('/audit/verify'));
    expect(report.intact).toBe(true);
    const chains = report.chains.map((chain: { chainKey: string }) => chain.chainKey);
    expect(chains).toEqual(expect.arrayContaining([orgId, practice.tenant.id]));
    const tenantChain = report.chains.find(
      (chain: { chainKey: string }) => chain.chainKey === practice.tenant.id,
    );
    expect(tenantChain).toMatchObject({ intact: true, firstSeq: 1, anchoredAtSeq: 0 });
    expect(tenantChain.checkpoints).toBeGreaterThanOrEqual(1);
    expect(tenantChain).not.toHaveProperty('firstBroken');

    const { code, output } = await cli('verify-audit');
    expect(code).toBe(0);
    expect(output).toMatch(/audit trail intact/);
  });

  it('publishes the signing key, and every checkpoint verifies with it offline', async () => {
    const key = await expectOk(api.get('/audit/signing-key'));
    expect(key).toMatchObject({ algorithm: 'Ed25519', keyId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(key.keys.map((k: { keyId: string }) => k.keyId)).toContain(key.keyId);
    // Generated once into DATA_DIR, readable by its owner only.
    expect(statSync(path.join(cp.config.DATA_DIR, GENERATED_KEY_FILE)).mode & 0o777).toBe(0o600);

    expect((await api.post('/audit/checkpoints', { tenantId: null })).status).toBe(400);
    const made = await expectOk(api.post('/audit/checkpoints', { tenantId: practice.tenant.id }));
    const rows = await chainRows(owner, practice.tenant.id);
    expect(made.items).toEqual([
      expect.objectContaining({ chainKey: practice.tenant.id, seq: rows.at(-1)?.seq }),
    ]);

    const listed = await api.pages(`/audit/checkpoints?tenantId=${practice.tenant.id}`, 2);
    const checkpoints = listed.flatMap((page) => page.items);
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    const publicKey = createPublicKey(key.publicKeyPem);
    const { rows: hashes } = await owner.query(
      `SELECT seq::int AS seq, encode(hash, 'hex') AS hash FROM audit_entries WHERE chain_key = $1`,
      [practice.tenant.id],
    );
    for (const checkpoint of checkpoints) {
      const valid = verifySignature(
        null,
        Buffer.from(checkpoint.payload, 'utf8'),
        publicKey,
        Buffer.from(checkpoint.signature, 'base64'),
      );
      expect(valid).toBe(true);
      expect(JSON.parse(checkpoint.payload)).toMatchObject({ seq: checkpoint.seq, hash: checkpoint.hash });
      expect(hashes.find((row) => row.seq === checkpoint.seq)?.hash).toBe(checkpoint.hash);
    }
  });

  describe('names the first broken entry after a superuser tampers with the log', () => {
    it('an entry’s after-JSON edited', async () => {
      const { tenantId, rows } = await sixEntryChain('edited');
      await tamper(owner, [
        [
          `UPDATE audit_entries SET after = jsonb_set(after, '{name}', '"Forged"') WHERE chain_key = $1 AND seq = 3`,
          [tenantId],
        ],
      ]);
      const report = await verifyTenant(tenantId);
      expect(report.intact).toBe(false);
      expect(report.chains[0].firstBroken).toMatchObject({ seq: 3, id: rows[2]?.id, problem: 'edited' });
      const { code, output } = await cli('verify-audit', { tenantId });
      expect(code).toBe(1);
      expect(output).toMatch(/first broken seq 3 .*: edited/);
    });

    it('an entry deleted', async () => {
      const { tenantId } = await sixEntryChain('deleted');
      await tamper(owner, [[`DELETE FROM audit_entries WHERE chain_key = $1 AND seq = 3`, [tenantId]]]);
      const report = await verifyTenant(tenantId);
      expect(report.intact).toBe(false);
      expect(report.chains[0].firstBroken).toMatchObject({ seq: 3, id: null, problem: 'deleted' });
    });

    it('two entries’ seqs swapped', async () => {
      const { tenantId, rows } = await sixEntryChain('reordered');
      await tamper(owner, [
        [`UPDATE audit_entries SET seq = 1000 WHERE chain_key = $1 AND seq = 2`, [tenantId]],
        [`UPDATE audit_entries SET seq = 2 WHERE chain_key = $1 AND seq = 4`, [tenantId]],
        [`UPDATE audit_entries SET seq = 4 WHERE chain_key = $1 AND seq = 1000`, [tenantId]],
      ]);
      const report = await verifyTenant(tenantId);
      expect(report.intact).toBe(false);
      expect(report.chains[0].firstBroken).toMatchObject({ seq: 2, id: rows[3]?.id, problem: 'reordered' });
    });

    it('a checkpoint altered', async () => {
      const { tenantId } = await sixEntryChain('checkpoint');
      await tamper(owner, [
        [
          `UPDATE audit_checkpoints SET hash = decode(repeat('ab', 32), 'hex') WHERE chain_key = $1 AND seq = ${CHECKPOINT_EVERY}`,
          [tenantId],
        ],
      ]);
      const report = await verifyTenant(tenantId);
      expect(report.chains[0].firstBroken).toMatchObject({
        seq: CHECKPOINT_EVERY,
        problem: 'bad_checkpoint',
      });
    });

    it('the newest entries cut off behind a signed checkpoint', async () => {
      const { tenantId } = await sixEntryChain('truncated');
      await tamper(owner, [[`DELETE FROM audit_entries WHERE chain_key = $1 AND seq >= 5`, [tenantId]]]);
      const { code, output } = await cli('verify-audit', { tenantId, json: true });
      expect(code).toBe(1);
      expect(JSON.parse(output).chains[0].firstBroken).toMatchObject({ seq: 5, problem: 'deleted' });
    });

    it('an entry rewritten with a recomputed hash (its successor no longer links to it)', async () => {
      const { tenantId, rows } = await sixEntryChain('rehashed');
      // The programmatic form of verification, as other modules would call it.
      const before = await cp.app.get(AuditService).verify(organizationScope(orgId), tenantId);
      expect(before.chains).toEqual([expect.objectContaining({ chainKey: tenantId, intact: true })]);
      // Recompute entry 3's hash over forged content, as a careful attacker would.
      const { rows: raw } = await owner.query(
        `SELECT * FROM audit_entries WHERE chain_key = $1 AND seq = 3`,
        [tenantId],
      );
      const row = raw[0];
      const forged = {
        chainKey: row.chain_key,
        seq: 3,
        id: row.id,
        occurredAt: row.occurred_at,
        organizationId: row.organization_id,
        tenantId: row.tenant_id,
        actor: {
          kind: row.actor_kind,
          id: row.actor_id,
          display: row.actor_display,
          credential: row.actor_credential,
        },
        action: row.action,
        target: { type: row.target_type, id: row.target_id },
        source: { ip: row.source_ip, userAgent: row.user_agent },
        before: row.before,
        after: { ...row.after, name: 'Forged' },
        details: row.details,
      };
      await tamper(owner, [
        [
          `UPDATE audit_entries SET after = $2::jsonb, hash = $3 WHERE chain_key = $1 AND seq = 3`,
          [tenantId, JSON.stringify(forged.after), entryHash(forged, row.prev_hash)],
        ],
      ]);
      const report = await verifyTenant(tenantId);
      expect(report.chains[0].firstBroken).toMatchObject({ seq: 3, id: rows[2]?.id, problem: 'edited' });
    });

    it('and the whole trail reports broken while other chains stay intact', async () => {
      const report = await expectOk(api.get('/audit/verify'));
      expect(report.intact).toBe(false);
      const practiceChain = report.chains.find(
        (chain: { chainKey: string }) => chain.chainKey === practice.tenant.id,
      );
      expect(practiceChain.intact).toBe(true);
    });
  });
});

describe('the log cannot be changed through the application', () => {
  it.each(['audit_entries', 'audit_checkpoints'])(
    '%s: the app role gets permission denied for UPDATE, DELETE and TRUNCATE',
    async (table) => {
      for (const sql of [`UPDATE ${table} SET seq = seq`, `DELETE FROM ${table}`, `TRUNCATE ${table}`]) {
        const result = await asApp(owner, { organizationId: orgId }, sql);
        expect(result, sql).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
        expect(result.ok ? '' : result.message, sql).toMatch(PERMISSION_DENIED);
      }
    },
  );

  it.each(['audit_entries', 'audit_checkpoints'])(
    '%s has row-level security enabled and forced',
    async (table) => {
      const { rows } = await owner.query(
        `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)`,
        [`public.${table}`],
      );
      expect(rows).toEqual([{ relrowsecurity: true, relforcerowsecurity: true }]);
    },
  );

  it('even the owner cannot edit or truncate it without switching triggers off', async () => {
    await expect(owner.query(`UPDATE audit_entries SET action = action`)).rejects.toThrow(/append-only/);
    await expect(owner.query(`DELETE FROM audit_entries`)).rejects.toThrow(/append-only/);
    await expect(owner.query(`TRUNCATE audit_entries`)).rejects.toThrow(/append-only/);
  });

  it('an action whose entry cannot be written does not happen', async () => {
    await owner.query(`REVOKE INSERT ON audit_entries FROM ${APP_ROLE}`);
    try {
      expect((await api.post('/tenants', { name: 'Never created' })).status).toBe(500);
      expect((await api.patch(`/sites/${practice.site.id}`, { name: 'Never renamed' })).status).toBe(500);
    } finally {
      await owner.query(`GRANT INSERT ON audit_entries TO ${APP_ROLE}`);
    }
    const { rows: tenants } = await owner.query(
      `SELECT count(*)::int AS n FROM tenants WHERE name = 'Never created'`,
    );
    expect(tenants[0].n).toBe(0);
    const { rows: sites } = await owner.query(`SELECT name FROM sites WHERE id = $1`, [practice.site.id]);
    expect(sites[0].name).not.toBe('Never renamed');
    expect((await api.post('/tenants', { name: 'Created once the log works' })).status).toBe(201);
  });
});

describe('export', () => {
  const exportText = async (query: string) => {
    const response = await fetch(`${cp.httpUrl}/api/v1/audit/export?${query}`, {
      headers: { authorization: `Bearer ${cp.apiKey}` },
    });
    expect(response.status).toBe(200);
    return { response, text: await response.text() };
  };

  it('JSON lines: the chain in seq order, verifiable offline, ending with the export itself', async () => {
    const { response, text } = await exportText(`format=jsonl&tenantId=${practice.tenant.id}`);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(response.headers.get('content-disposition')).toMatch(
      /^attachment; filename="medfleet-audit-.*\.jsonl"$/,
    );
    const lines: AuditEntry[] = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.seq)).toEqual(lines.map((_, i) => i + 1));
    let previous = GENESIS_HASH.toString('hex');
    for (const line of lines) {
      expect(line.prevHash).toBe(previous);
      const recomputed = entryHash(
        { ...line, occurredAt: new Date(line.occurredAt) },
        Buffer.from(line.prevHash, 'hex'),
      );
      expect(recomputed.toString('hex')).toBe(line.hash);
      previous = line.hash;
    }
    expect(lines.at(-1)).toMatchObject({
      action: 'audit.export',
      actor: { kind: 'api_key', id: keyId },
      details: { format: 'jsonl' },
    });
    expect(lines.map((line) => line.action)).toEqual(
      expect.arrayContaining(['tenant.create', 'site.update']),
    );
  });

  it('CSV: the same entries, one row each, with the columns documented', async () => {
    const { text: jsonl } = await exportText(`format=jsonl&tenantId=${practice.tenant.id}`);
    const lines: AuditEntry[] = jsonl
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    const { response, text } = await exportText(`format=csv&tenantId=${practice.tenant.id}`);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...CSV_COLUMNS]);
    // The CSV export recorded itself: one entry more than the JSON lines export saw.
    expect(rows).toHaveLength(lines.length + 1);
    const column = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
    lines.forEach((line, i) => {
      const row = rows[i] as string[];
      expect(row[column('id')]).toBe(line.id);
      expect(Number(row[column('seq')])).toBe(line.seq);
      expect(row[column('action')]).toBe(line.action);
      expect(row[column('hash')]).toBe(line.hash);
      expect(row[column('after')] === '' ? null : JSON.parse(row[column('after')] as string)).toEqual(
        line.after,
      );
    });
    expect(rows.at(-1)?.[column('action')]).toBe('audit.export');
  });

  it('filters by time and refuses an unknown format', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const { text } = await exportText(`from=${encodeURIComponent(future)}`);
    expect(text).toBe('');
    expect((await api.get('/audit/export?format=xml')).status).toBe(400);
  });
});

describe('isolation', () => {
  let other: ApiClient;
  let otherKey: string;
  let otherOrg: string;
  let otherTenant: string;

  beforeAll(async () => {
    const created = await cp.app.get(OrganizationService).create('Audit Other MSP', 'audit-other-msp');
    otherOrg = created.organization.id;
    otherKey = created.apiKey.token;
    other = new ApiClient(cp.httpUrl, otherKey);
    otherTenant = (await createTenantSession(cp, 'Audit Practice C', { apiKey: created.apiKey.token })).tenant
      .id;
  });

  it('another organization sees only its own chains', async () => {
    const seen = await auditEntries(other);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map((entry) => entry.chainKey))).toEqual(new Set([otherOrg, otherTenant]));
    expect(JSON.stringify(seen)).not.toContain(practice.tenant.id);
    const mine = await auditEntries(api);
    expect(mine.some((entry) => entry.chainKey === otherOrg || entry.chainKey === otherTenant)).toBe(false);
  });

  it('asking for another organization’s tenant answers nothing, and verifies nothing', async () => {
    expect(await auditEntries(other, `tenantId=${practice.tenant.id}`)).toEqual([]);
    expect(await verifyTenant(practice.tenant.id, other)).toMatchObject({ intact: true, chains: [] });
    const response = await fetch(`${cp.httpUrl}/api/v1/audit/export?tenantId=${practice.tenant.id}`, {
      headers: { authorization: `Bearer ${otherKey}` },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
    // The attempt itself is on record, in the asking organization's chain.
    const attempts = await auditEntries(other, 'action=audit.export');
    expect(attempts[0]?.details).toMatchObject({ filters: { tenantId: practice.tenant.id } });
  });

  it('row-level security gives a tenant its chain only, and an organization its own chains', async () => {
    const tenantOnly = await selectAsApp<{ chain_key: string }>(
      owner,
      { tenantIds: [practice.tenant.id] },
      `SELECT DISTINCT chain_key FROM audit_entries`,
    );
    expect(tenantOnly).toEqual([{ chain_key: practice.tenant.id }]);
    const organization = await selectAsApp<{ chain_key: string }>(
      owner,
      { organizationId: otherOrg },
      `SELECT DISTINCT chain_key FROM audit_entries ORDER BY 1`,
    );
    expect(organization.map((row) => row.chain_key).sort()).toEqual([otherOrg, otherTenant].sort());
    const none = await selectAsApp(owner, null, `SELECT * FROM audit_entries`);
    expect(none).toEqual([]);
  });
});

describe('concurrency', () => {
  it('20 parallel site creations in one tenant leave one intact chain with contiguous seqs', async () => {
    const session = await createTenantSession(cp, 'Audit Concurrent');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        session.api.post('/sites', {
          tenantId: session.tenant.id,
          name: `Concurrent site ${i}`,
          timeZone: 'America/Chicago',
        }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(results.map(() => 201));
    const rows = await chainRows(owner, session.tenant.id);
    expect(rows).toHaveLength(22);
    expect(rows.map((row) => row.seq)).toEqual(rows.map((_, i) => i + 1));
    const report = await verifyTenant(session.tenant.id);
    expect(report.intact).toBe(true);
    expect(report.chains[0].checkpoints).toBe(Math.floor(23 / CHECKPOINT_EVERY));
  });
});

describe('retention purge', () => {
  it('removes only entries older than retention, up to a signed checkpoint, and the chain still verifies', async () => {
    const session = await createTenantSession(cp, 'Audit Retention');
    for (let i = 0; i < 5; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await session.createSite();
    }
    const tenantId = session.tenant.id;
    const rows = await chainRows(owner, tenantId);
    expect(rows).toHaveLength(7);
    // A clock six years after entry 4: entries 1–4 are past retention, 5–7 are not.
    const now = new Date((rows[3]?.occurred_at as Date).getTime() + 1);
    now.setUTCFullYear(now.getUTCFullYear() + cp.config.AUDIT_RETENTION_YEARS);

    const dryRun = await cli('purge-audit', { tenantId, now, dryRun: true });
    expect(dryRun).toMatchObject({ code: 0 });
    expect(dryRun.output).toMatch(/would purge .*4 entries through seq 4/);
    expect(await chainRows(owner, tenantId)).toHaveLength(7);

    const purge = await cli('purge-audit', { tenantId, now });
    expect(purge.code).toBe(0);
    expect(purge.output).toMatch(/purged .*4 entries through seq 4/);
    const left = await chainRows(owner, tenantId);
    expect(left.map((row) => row.seq)).toEqual([5, 6, 7, 8]);
    expect(left.at(-1)?.action).toBe('audit.purge');
    const { rows: anchor } = await owner.query(
      `SELECT seq::int AS seq FROM audit_checkpoints WHERE chain_key = $1 AND seq = 4`,
      [tenantId],
    );
    expect(anchor).toHaveLength(1);

    const report = await verifyTenant(tenantId);
    expect(report.chains[0]).toMatchObject({ intact: true, firstSeq: 5, anchoredAtSeq: 4 });
    expect((await cli('verify-audit', { tenantId })).code).toBe(0);
    const [purgeEntry] = await auditEntries(api, `tenantId=${tenantId}&action=audit.purge`);
    expect(purgeEntry).toMatchObject({
      actor: { kind: 'system', id: null },
      details: { throughSeq: 4, removed: 4, retentionYears: 6 },
    });

    const again = await cli('purge-audit', { tenantId, now });
    expect(again.code).toBe(0);
    expect(again.output).not.toMatch(/purged/);
    expect((await chainRows(owner, tenantId)).map((row) => row.seq)).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it('deleting the start of a chain without the purge is still detected', async () => {
    const { tenantId } = await sixEntryChain('unpurged');
    await tamper(owner, [
      [`DELETE FROM audit_entries WHERE chain_key = $1 AND seq <= ${CHECKPOINT_EVERY}`, [tenantId]],
    ]);
    const { code, output } = await cli('verify-audit', { tenantId, json: true });
    expect(code).toBe(1);
    expect(JSON.parse(output).chains[0].firstBroken).toMatchObject({ seq: 1, problem: 'deleted' });
  });

  it('refuses to cut a broken chain', async () => {
    const { tenantId } = await sixEntryChain('broken purge');
    await tamper(owner, [
      [`UPDATE audit_entries SET action = 'tenant.delete' WHERE chain_key = $1 AND seq = 2`, [tenantId]],
    ]);
    const future = new Date();
    future.setUTCFullYear(future.getUTCFullYear() + 10);
    const { code, output } = await cli('purge-audit', { tenantId, now: future });
    expect(code).toBe(1);
    expect(output).toMatch(/REFUSED .*broken at seq 2/);
    expect(await chainRows(owner, tenantId)).toHaveLength(6);
  });
});
