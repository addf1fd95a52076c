// Patch campaigns over the API, with devices reported by real agents at sites in two time zones: the plan
// preview places jobs only inside each site's windows and reports what it cannot place; approval by each
// practice's administrator or, where delegated, by the MSP; start persists the jobs; pause, resume and cancel
// with 409 on a wrong transition; isolation from other organizations and sibling practices; audit entries.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import { asApp, RLS_VIOLATION } from './support/app-role.js';
import { auditEntries } from './support/audit.js';
import { signInAs } from './support/identity-session.js';
import {
  createTenantSession,
  device,
  expectOk,
  type EnrolledAgent,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const DAY = 86_400_000;
const ALARIS = 'Alaris 8015 PC Unit';

let cp: TestControlPlane;
let owner: pg.Client;
let msp: ApiClient;
let practiceA: TenantSession;
let practiceB: TenantSession;
let chicago: SiteRecord;
let adminA: ApiClient;
let adminB: ApiClient;
let siblingAdmin: ApiClient;
let outsider: ApiClient;
const agents: EnrolledAgent[] = [];
/** Device ids by site. */
const devicesAt: Record<string, string[]> = {};

async function report(session: TenantSession, siteId: string, devices: ReturnType<typeof device>[]) {
  const agent = await session.enrollAgent({ siteId });
  agents.push(agent);
  await agent.publishInventory(1, devices);
  await agent.waitForAck(1);
  const listed = await expectOk(msp.get(`/devices?siteId=${siteId}&limit=500`));
  devicesAt[siteId] = listed.items.map((item: { id: string }) => item.id);
}

function campaignBody(overrides: Record<string, unknown> = {}) {
  return {
    name: `Alaris 12.3 ${randomUUID().slice(0, 6)}`,
    tenantIds: [practiceA.tenant.id, practiceB.tenant.id],
    target: { vendor: 'bd', models: [ALARIS, 'Mystery Pump'], firmware: { min: '12.0', max: '12.3' } },
    artifact: {
      version: '12.3.0',
      sha256: 'a'.repeat(64),
      signature: Buffer.from('signed by the vendor, 2026').toString('base64'),
      sizeBytes: 52_428_800,
    },
    waves: [{ canarySiteIds: [chicago.id], soakHours: 12 }, { percent: 100 }],
    successRatePercent: 90,
    abort: { failurePercent: 10, minExecuted: 5 },
    catchUp: { mode: 'same-window', maxRollovers: 3 },
    durations: { minutesByModel: { [ALARIS]: 150 }, marginMinutes: 0 },
    // Tomorrow noon UTC, whatever day the suite runs.
    earliestStart: new Date(Math.ceil(Date.now() / DAY) * DAY + DAY / 2).toISOString(),
    horizonDays: 14,
    ...overrides,
  };
}

interface PreviewJob {
  deviceId: string;
  siteId: string;
  wave: number;
  night: string;
  startUtc: string;
  endUtc: string;
  startLocal: string;
  endLocal: string;
  windowStartUtc: string;
  windowEndUtc: string;
}

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
  });
  owner = await cp.owner();
  practiceA = await createTenantSession(cp);
  msp = practiceA.api;
  practiceB = await createTenantSession(cp);
  const sibling = await createTenantSession(cp);
  chicago = await practiceA.createSite({ timeZone: 'America/Chicago', county: 'Cook' });
  await report(practiceA, practiceA.site.id, [
    device(1),
    device(2),
    device(3),
    device(4, { firmwareVersion: '12.3.0' }),
    device(5, { vendor: 'Baxter', model: 'Sigma Spectrum' }),
  ]);
  await report(practiceA, chicago.id, [
    device(11),
    device(12),
    device(13),
    device(14, { model: 'Mystery Pump' }),
  ]);
  await report(practiceB, practiceB.site.id, [device(21), device(22)]);
  adminA = (await signInAs(cp, 'practice_admin', { tenantId: practiceA.tenant.id })).api;
  adminB = (await signInAs(cp, 'practice_admin', { tenantId: practiceB.tenant.id })).api;
  siblingAdmin = (await signInAs(cp, 'practice_admin', { tenantId: sibling.tenant.id })).api;
  const other = await cp.app
    .get(OrganizationService)
    .create('Other MSP', `other-${randomUUID().slice(0, 8)}`);
  outsider = new ApiClient(cp.httpUrl, other.apiKey.token);
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await owner?.end();
  await cp?.stop();
});

describe('campaign drafts', () => {
  it('are created, read and listed', async () => {
    const created = await expectOk(msp.post('/campaigns', campaignBody()));
    expect(created).toMatchObject({ state: 'draft', revision: 1 });
    expect(created.approvals).toHaveLength(2);
    expect(created.approvals.every((approval: { approved: boolean }) => !approval.approved)).toBe(true);
    expect(created.waves[1]).toMatchObject({ percent: 100, successRatePercent: 90 });
    expect((await expectOk(msp.get(`/campaigns/${created.id}`))).name).toBe(created.name);
    const listed = await expectOk(msp.get('/campaigns?state=draft'));
    expect(listed.items.map((item: { id: string }) => item.id)).toContain(created.id);
    const [entry] = await auditEntries(msp, 'action=campaign.create');
    expect(entry?.target).toEqual({ type: 'campaign', id: created.id });
  });

  it('refuse an inconsistent definition with a code', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ waves: [{ percent: 40 }, { percent: 40 }] }, 'INVALID_CAMPAIGN'],
      [{ waves: [{ percent: 50 }, { canarySiteIds: [randomUUID()], percent: 50 }] }, 'INVALID_CAMPAIGN'],
      [{ procedure: { title: 'By hand', steps: ['Open the service menu'] } }, 'INVALID_CAMPAIGN'],
      [{ siteIds: [randomUUID()] }, 'INVALID_CAMPAIGN'],
      [{ earliestStart: '2026-12-01T00:00:00' }, 'INVALID_INSTANT'],
      [{ artifact: { version: '1', sha256: 'nope', signature: 'x', sizeBytes: 1 } }, 'VALIDATION_FAILED'],
      [{ durations: { minutesByModel: { [ALARIS]: -5 } } }, 'VALIDATION_FAILED'],
      [{ catchUp: { mode: 'whenever' } }, 'VALIDATION_FAILED'],
    ];
    for (const [overrides, code] of cases) {
      const response = await msp.post('/campaigns', campaignBody(overrides));
      expect(response.status, JSON.stringify(overrides)).toBe(400);
      expect(response.body.error.code, JSON.stringify(overrides)).toBe(code);
    }
    const foreignTenant = await msp.post('/campaigns', campaignBody({ tenantIds: [randomUUID()] }));
    expect(foreignTenant.status).toBe(404);
  });
});

describe('plan preview across two time zones', () => {
  let campaignId: string;
  let preview: any;

  beforeAll(async () => {
    campaignId = (await expectOk(msp.post('/campaigns', campaignBody()))).id;
    preview = await expectOk(msp.get(`/campaigns/${campaignId}/preview`));
  });

  it('targets the vendor, models and firmware range, and reports what it cannot place', () => {
    // New York: 3 in range (one at 12.3.0 and one of another vendor left out); Chicago: 4; practice B: 2.
    expect(preview.devices).toBe(9);
    expect(preview.placed).toBe(8);
    expect(preview.unplaced).toEqual([
      expect.objectContaining({ siteId: chicago.id, reason: 'NO_ESTIMATE', wave: 0 }),
    ]);
    expect(devicesAt[chicago.id]).toContain(preview.unplaced[0].deviceId);
    expect(preview.sites.map((site: { siteId: string }) => site.siteId).sort()).toEqual(
      [practiceA.site.id, chicago.id, practiceB.site.id].sort(),
    );
  });

  it('places jobs only inside each site’s windows, as the site calendar shows them', async () => {
    const jobs = preview.jobs as PreviewJob[];
    expect(jobs).toHaveLength(8);
    for (const job of jobs) {
      const zoneOffset = job.siteId === chicago.id ? /-0[56]:00$/ : /-0[45]:00$/;
      expect(job.startLocal).toMatch(zoneOffset);
      const hour = Number(job.startLocal.slice(11, 13));
      expect(hour >= 22 || hour < 5, job.startLocal).toBe(true);
      const calendar = await expectOk(
        msp.get(`/sites/${job.siteId}/maintenance-windows?from=${job.windowStartUtc}&to=${job.windowEndUtc}`),
      );
      const window = calendar.windows.find(
        (candidate: { startUtc: string; endUtc: string }) =>
          candidate.startUtc <= job.startUtc && job.endUtc <= candidate.endUtc,
      );
      expect(window, `${job.startUtc}–${job.endUtc} at ${job.siteId}`).toBeDefined();
      expect(window.startUtc).toBe(job.windowStartUtc);
      expect(window.endUtc).toBe(job.windowEndUtc);
      expect(Date.parse(job.endUtc) - Date.parse(job.startUtc)).toBe(150 * 60_000);
    }
    // One job at a time per site (the default limit), two per 7-hour night.
    for (const siteId of [practiceA.site.id, chicago.id, practiceB.site.id]) {
      const atSite = jobs
        .filter((job) => job.siteId === siteId)
        .sort((a, b) => a.startUtc.localeCompare(b.startUtc));
      atSite.forEach((job, index) => {
        if (index > 0) expect(job.startUtc >= (atSite[index - 1] as PreviewJob).endUtc).toBe(true);
      });
    }
  });

  it('runs the canary site first and the rest after its soak time', () => {
    const jobs = preview.jobs as PreviewJob[];
    const canary = jobs.filter((job) => job.wave === 0);
    const rest = jobs.filter((job) => job.wave === 1);
    expect(canary.every((job) => job.siteId === chicago.id)).toBe(true);
    expect(canary).toHaveLength(3);
    expect(rest).toHaveLength(5);
    const canaryEnd = Math.max(...canary.map((job) => Date.parse(job.endUtc)));
    const restStart = Math.min(...rest.map((job) => Date.parse(job.startUtc)));
    expect(restStart).toBeGreaterThanOrEqual(canaryEnd + 12 * 3_600_000);
    expect(preview.waves.map((wave: { wave: number; placed: number }) => [wave.wave, wave.placed])).toEqual([
      [0, 3],
      [1, 5],
    ]);
  });

  it('writes nothing', async () => {
    const { rows } = await owner.query(`SELECT count(*)::int AS n FROM patch_jobs WHERE campaign_id = $1`, [
      campaignId,
    ]);
    expect(rows[0].n).toBe(0);
  });

  it('shows a practice only its own devices, and another organization nothing', async () => {
    const own = await expectOk(adminB.get(`/campaigns/${campaignId}/preview`));
    expect(own.devices).toBe(2);
    expect(own.sites.map((site: { siteId: string }) => site.siteId)).toEqual([practiceB.site.id]);
    expect((await outsider.get(`/campaigns/${campaignId}/preview`)).status).toBe(404);
    expect((await siblingAdmin.get(`/campaigns/${campaignId}/preview`)).status).toBe(404);
  });
});

describe('approval and lifecycle', () => {
  let campaignId: string;

  beforeAll(async () => {
    campaignId = (await expectOk(msp.post('/campaigns', campaignBody()))).id;
  });

  it('does not start before every practice approved', async () => {
    const refused = await msp.post(`/campaigns/${campaignId}/start`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('CAMPAIGN_NOT_APPROVED');
    expect(refused.body.error.details.pendingTenantIds.sort()).toEqual(
      [practiceA.tenant.id, practiceB.tenant.id].sort(),
    );
  });

  it('lets the MSP approve only for practices that delegated it, which only the practice may decide', async () => {
    const notDelegated = await msp.post(`/campaigns/${campaignId}/approve`, {});
    expect(notDelegated.status).toBe(403);
    expect(notDelegated.body.error.code).toBe('APPROVAL_NOT_DELEGATED');

    const selfDelegation = await msp.request('PUT', `/tenants/${practiceB.tenant.id}/campaign-approval`, {
      delegated: true,
    });
    expect(selfDelegation.status).toBe(403);
    expect(selfDelegation.body.error.code).toBe('DELEGATION_BY_PRACTICE_ONLY');
    expect(
      (await adminA.request('PUT', `/tenants/${practiceB.tenant.id}/campaign-approval`, { delegated: true }))
        .status,
    ).toBe(404);

    await expectOk(
      adminB.request('PUT', `/tenants/${practiceB.tenant.id}/campaign-approval`, { delegated: true }),
    );
    expect((await expectOk(msp.get(`/tenants/${practiceB.tenant.id}/campaign-approval`))).delegated).toBe(
      true,
    );
    const forA = await msp.post(`/campaigns/${campaignId}/approve`, { tenantIds: [practiceA.tenant.id] });
    expect(forA.status).toBe(403);
    const approved = await expectOk(msp.post(`/campaigns/${campaignId}/approve`, {}));
    expect(approved.approvals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          tenantId: practiceB.tenant.id,
          approved: true,
          via: 'delegated',
          delegated: true,
        }),
        expect.objectContaining({ tenantId: practiceA.tenant.id, approved: false }),
      ]),
    );
  });

  it("takes practice A's own administrator for practice A; a sibling practice cannot", async () => {
    expect((await siblingAdmin.post(`/campaigns/${campaignId}/approve`, {})).status).toBe(404);
    expect((await outsider.post(`/campaigns/${campaignId}/approve`, {})).status).toBe(404);
    const seen = await expectOk(adminA.get(`/campaigns/${campaignId}`));
    expect(seen.tenantIds).toEqual([practiceA.tenant.id]);
    expect(seen.approvals.map((approval: { tenantId: string }) => approval.tenantId)).toEqual([
      practiceA.tenant.id,
    ]);
    const approved = await expectOk(
      adminA.post(`/campaigns/${campaignId}/approve`, { comment: 'OK for the weekend' }),
    );
    expect(approved.approvals).toEqual([
      expect.objectContaining({ tenantId: practiceA.tenant.id, approved: true, via: 'practice' }),
    ]);
    const [entryA] = await auditEntries(adminA, 'action=campaign.approve');
    expect(entryA).toMatchObject({ target: { type: 'campaign', id: campaignId } });
    expect(entryA?.details).toMatchObject({ via: 'practice', revision: 1, comment: 'OK for the weekend' });
    const [entryB] = await auditEntries(adminB, 'action=campaign.approve');
    expect(entryB?.details).toMatchObject({ via: 'delegated', revision: 1 });
    const delegation = await auditEntries(adminB, 'action=campaign_approval.delegate');
    expect(delegation[0]?.after).toEqual({ delegated: true });
  });

  it('needs approving again after a change to the draft', async () => {
    const changed = await expectOk(msp.patch(`/campaigns/${campaignId}`, { horizonDays: 21 }));
    expect(changed.revision).toBe(2);
    expect(changed.approvals.every((approval: { approved: boolean }) => !approval.approved)).toBe(true);
    expect((await msp.post(`/campaigns/${campaignId}/start`)).status).toBe(409);
    await expectOk(msp.post(`/campaigns/${campaignId}/approve`, {}));
    await expectOk(adminA.post(`/campaigns/${campaignId}/approve`, {}));
  });

  it('start persists the planned jobs; progress and the calendar show them', async () => {
    const preview = await expectOk(msp.get(`/campaigns/${campaignId}/preview`));
    const started = await expectOk(msp.post(`/campaigns/${campaignId}/start`));
    expect(started.state).toBe('running');
    expect(started.planSummary).toMatchObject({ jobs: 8, unplaced: 1, unplacedByReason: { NO_ESTIMATE: 1 } });
    const { rows } = await owner.query(
      `SELECT tenant_id, site_id, device_id, wave, state::text, window_start, window_end, planned_start, planned_end
         FROM patch_jobs WHERE campaign_id = $1 ORDER BY planned_start`,
      [campaignId],
    );
    expect(rows).toHaveLength(8);
    expect(rows.every((row) => row.state === 'planned')).toBe(true);
    expect(rows.filter((row) => row.tenant_id === practiceB.tenant.id)).toHaveLength(2);
    const planned = new Set(
      (preview.jobs as PreviewJob[]).map((job) => `${job.deviceId}|${job.windowStartUtc}`),
    );
    for (const row of rows) {
      expect(planned.has(`${row.device_id}|${row.window_start.toISOString()}`)).toBe(true);
      expect(row.planned_start >= row.window_start && row.planned_end <= row.window_end).toBe(true);
    }

    const progress = await expectOk(msp.get(`/campaigns/${campaignId}/progress`));
    expect(progress.total).toBe(8);
    expect(progress.byState.planned).toBe(8);
    expect(progress.waves.map((wave: { total: number }) => wave.total)).toEqual([3, 5]);
    expect(progress.abort).toMatchObject({ failurePercent: 0, reached: false, minExecuted: 5 });
    const ownProgress = await expectOk(adminB.get(`/campaigns/${campaignId}/progress`));
    expect(ownProgress.total).toBe(2);
    // Practice B sees nothing of practice A: not its tenant, its canary site, nor its devices.
    const seenByB = JSON.stringify([await expectOk(adminB.get(`/campaigns/${campaignId}`)), ownProgress]);
    for (const id of [practiceA.tenant.id, chicago.id, practiceA.site.id, ...(devicesAt[chicago.id] ?? [])]) {
      expect(seenByB).not.toContain(id);
    }
    expect(started.planSummary).not.toBeNull();

    // Job by job, paged and filtered.
    const pages = await msp.pages(`/campaigns/${campaignId}/jobs`, 3);
    expect(pages.map((page) => page.items.length)).toEqual([3, 3, 2]);
    const atChicago = await expectOk(
      msp.get(`/campaigns/${campaignId}/jobs?siteId=${chicago.id}&state=planned`),
    );
    expect(atChicago.items).toHaveLength(3);
    expect(atChicago.items.every((job: { wave: number }) => job.wave === 0)).toBe(true);
    expect((await expectOk(msp.get(`/campaigns/${campaignId}/jobs?wave=1`))).items).toHaveLength(5);
    expect((await expectOk(adminB.get(`/campaigns/${campaignId}/jobs`))).items).toHaveLength(2);
    expect((await msp.get(`/campaigns/${campaignId}/jobs?state=exploded`)).status).toBe(400);

    const first = rows.find((row) => row.site_id === chicago.id);
    const calendar = await expectOk(
      msp.get(
        `/sites/${chicago.id}/maintenance-windows?from=${first.window_start.toISOString()}&to=${first.window_end.toISOString()}`,
      ),
    );
    expect(calendar.windows[0].jobs.map((job: { campaignId: string }) => job.campaignId)).toContain(
      campaignId,
    );
    expect(calendar.jobsOutsideWindows).toEqual([]);
    // A freeze declared after planning removes the night; its jobs stay visible, apart, until rolled over.
    const night = calendar.windows[0].localDate as string;
    const freeze = await expectOk(
      msp.post('/blackouts', {
        scope: 'county',
        county: 'cook',
        kind: 'local-dates',
        firstDate: night,
        lastDate: night,
        reason: 'Blizzard',
      }),
    );
    const frozen = await expectOk(
      msp.get(
        `/sites/${chicago.id}/maintenance-windows?from=${first.window_start.toISOString()}&to=${first.window_end.toISOString()}`,
      ),
    );
    expect(frozen.windows).toEqual([]);
    expect(frozen.jobsOutsideWindows.map((job: { campaignId: string }) => job.campaignId)).toContain(
      campaignId,
    );
    expect((await msp.request('DELETE', `/blackouts/${freeze.id}`)).status).toBe(204);
    expect((await msp.post(`/campaigns/${campaignId}/start`)).body.error.code).toBe(
      'CAMPAIGN_INVALID_TRANSITION',
    );
  });

  it('pauses, resumes and cancels, refusing wrong transitions with 409', async () => {
    const expectConflict = async (path: string, code = 'CAMPAIGN_INVALID_TRANSITION', body?: unknown) => {
      const response = body === undefined ? await msp.post(path) : await msp.patch(path, body);
      expect(response.status, path).toBe(409);
      expect(response.body.error.code, path).toBe(code);
    };
    await expectConflict(`/campaigns/${campaignId}/resume`);
    await expectConflict(`/campaigns/${campaignId}`, 'CAMPAIGN_NOT_EDITABLE', { name: 'Too late' });
    expect((await expectOk(msp.post(`/campaigns/${campaignId}/pause`))).state).toBe('paused');
    await expectConflict(`/campaigns/${campaignId}/pause`);
    await expectConflict(`/campaigns/${campaignId}/approve`);
    expect((await adminA.post(`/campaigns/${campaignId}/pause`)).status).toBe(403);
    expect((await expectOk(msp.post(`/campaigns/${campaignId}/resume`))).state).toBe('running');
    expect((await expectOk(msp.post(`/campaigns/${campaignId}/cancel`))).state).toBe('cancelled');
    await expectConflict(`/campaigns/${campaignId}/resume`);
    await expectConflict(`/campaigns/${campaignId}/cancel`);
    const { rows } = await owner.query(
      `SELECT state::text, count(*)::int AS n FROM patch_jobs WHERE campaign_id = $1 GROUP BY state`,
      [campaignId],
    );
    expect(rows).toEqual([{ state: 'cancelled', n: 8 }]);
    const actions = (await auditEntries(msp, 'action=campaign.*'))
      .filter((entry) => entry.target?.id === campaignId)
      .map((entry) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining(['campaign.start', 'campaign.pause', 'campaign.resume', 'campaign.cancel']),
    );
  });

  it('is invisible to another organization and to a sibling practice', async () => {
    for (const api of [outsider, siblingAdmin]) {
      expect((await api.get(`/campaigns/${campaignId}`)).status).toBe(404);
      expect((await api.get(`/campaigns/${campaignId}/progress`)).status).toBe(404);
      const listed = await expectOk(api.get('/campaigns'));
      expect(JSON.stringify(listed)).not.toContain(campaignId);
    }
    expect((await outsider.post(`/campaigns/${campaignId}/cancel`)).status).toBe(404);
  });
});

describe('row-level security on the campaign tables', () => {
  it("keeps one practice's jobs and approvals from another, and the MSP's rows from practices and other MSPs", async () => {
    const { rows } = await owner.query(
      `SELECT tenant_id, campaign_id FROM patch_jobs WHERE tenant_id = $1 LIMIT 1`,
      [practiceA.tenant.id],
    );
    expect(rows).toHaveLength(1);
    const { campaign_id: campaignId } = rows[0];
    const asB = { tenantIds: [practiceB.tenant.id] };
    const seen = await asApp(owner, asB, `SELECT count(*)::int AS n FROM patch_jobs WHERE tenant_id = $1`, [
      practiceA.tenant.id,
    ]);
    expect(seen).toMatchObject({ ok: true, rows: [{ n: 0 }] });
    // Writing a job for practice A's device while scoped to practice B is refused.
    const forged = await asApp(
      owner,
      asB,
      `INSERT INTO patch_jobs (tenant_id, campaign_id, site_id, device_id, wave, window_local_date, planned_start,
                               planned_end, window_start, window_end)
       VALUES ($1, $2, $3, $4, 9, '2026-12-24', '2026-12-25T03:00:00Z', '2026-12-25T04:00:00Z',
               '2026-12-25T03:00:00Z', '2026-12-25T10:00:00Z')`,
      [practiceA.tenant.id, campaignId, chicago.id, devicesAt[chicago.id]?.[0]],
    );
    expect(forged.ok).toBe(false);
    if (!forged.ok) expect(forged.message).toMatch(RLS_VIOLATION);
    const direct = await asApp(
      owner,
      asB,
      `INSERT INTO campaign_approvals (tenant_id, campaign_id, revision, via, approved_by) VALUES ($1, $2, 1, 'practice', 'forged')`,
      [practiceA.tenant.id, campaignId],
    );
    expect(direct.ok).toBe(false);
    if (!direct.ok) expect(direct.message).toMatch(RLS_VIOLATION);
    // A practice may read a campaign that reaches it, but not change it.
    const update = await asApp(owner, asB, `UPDATE campaigns SET state = 'cancelled' WHERE id = $1`, [
      campaignId,
    ]);
    expect(update).toMatchObject({ ok: true, rowCount: 0 });
    // Another organization sees neither the campaign nor the organization's freezes.
    const otherOrg = { organizationId: randomUUID() };
    const campaigns = await asApp(owner, otherOrg, `SELECT count(*)::int AS n FROM campaigns`);
    expect(campaigns).toMatchObject({ ok: true, rows: [{ n: 0 }] });
    const freeze = await asApp(
      owner,
      otherOrg,
      `INSERT INTO organization_blackouts (organization_id, id, scope, kind, first_date, last_date, reason, created_by)
       VALUES ($1, gen_random_uuid(), 'organization', 'local-dates', '2026-12-24', '2026-12-24', 'forged', 'x')`,
      [practiceA.tenant.organizationId],
    );
    expect(freeze.ok).toBe(false);
    if (!freeze.ok) expect(freeze.message).toMatch(RLS_VIOLATION);
  });
});
