// The patch-job API against real PostgreSQL and MQTT: a manual-procedure campaign across two practices is
// started and dispatched, the agents report `waiting_manual` on `jobs/progress` (the real ingest path), and the
// jobs are listed (the technicians' worklist with the campaign's checklist), read with device, site and window in
// UTC and site-local time, and their history paged; a technician confirms a job (succeeded or failed), which ends
// it, records a `technician` event and an audit entry; two confirmations of one job never both win; a job not
// waiting is a 409, another tenant's a 404 that leaks nothing, and roles without `job:confirm` are refused.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobProgressBody } from '@medfleet/contracts';
import { DispatchClock } from '../src/modules/dispatch/dispatch-clock.js';
import { PatchDispatcher } from '../src/modules/dispatch/patch-dispatch.job.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { AgentReports } from './support/agent-reports.js';
import { ApiClient } from './support/api-client.js';
import { auditEntries } from './support/audit.js';
import { signInAs, type SignedInUser } from './support/identity-session.js';
import {
  createTenantSession,
  device,
  expectOk,
  type EnrolledAgent,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const DAY = 86_400_000;
const MINUTE = 60_000;
const ALARIS = 'Alaris 8015 PC Unit';
const PROCEDURE = {
  title: 'Replace the battery pack and update through the service port',
  steps: ['Take the pump out of service', 'Replace the battery pack', 'Install 12.3.0 with the service tool'],
  version: '12.3.0',
};

let cp: TestControlPlane;
let owner: pg.Client;
let msp: ApiClient;
let practice: TenantSession;
let other: TenantSession;
let agent: EnrolledAgent;
let otherAgent: EnrolledAgent;
let technician: SignedInUser;
let admin: SignedInUser;
let otherAdmin: SignedInUser;
let viewer: ApiClient;
let outsider: ApiClient;
let campaignId: string;
let windowStart: Date;
/** The practice's jobs: two the agent hands to a technician, one it has not started. */
let waitingA: string;
let waitingB: string;
let notStarted: string;
/** The other practice's job, also waiting for a technician. */
let foreign: string;

interface JobRow {
  id: string;
  tenant_id: string;
  device_id: string;
  state: string;
  attempt: number;
  agent_id: string | null;
}

async function jobRows(): Promise<JobRow[]> {
  const result = await owner.query(
    `SELECT id, tenant_id, device_id, state::text AS state, attempt, agent_id FROM patch_jobs
      WHERE campaign_id = $1 ORDER BY id`,
    [campaignId],
  );
  return result.rows;
}

async function jobRow(id: string): Promise<{ state: string; result: any; finished_at: Date | null }> {
  const result = await owner.query(
    `SELECT state::text AS state, result, finished_at FROM patch_jobs WHERE id = $1`,
    [id],
  );
  return result.rows[0];
}

let reports: AgentReports;

/** What the agent's manual adapter reports: accepted, then waiting for a technician with the checklist. */
async function handToTechnician(of: EnrolledAgent, jobId: string): Promise<void> {
  const at = new Date(windowStart.getTime() + 2 * MINUTE).toISOString();
  const base = { jobId, campaignId, attempt: 1, at };
  const bodies: JobProgressBody[] = [
    { ...base, state: 'accepted', adapter: 'manual' },
    { ...base, state: 'waiting_manual', title: PROCEDURE.title, checklist: PROCEDURE.steps },
  ];
  let seq = 0;
  for (const body of bodies) seq = await reports.progress(of, body);
  await of.waitForAck(seq);
}

function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`${what} is missing`);
  return value;
}

const ids = (page: { items: { id: string }[] }) => page.items.map((item) => item.id);

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
  });
  owner = await cp.owner();
  practice = await createTenantSession(cp);
  msp = practice.api;
  reports = new AgentReports(practice);
  other = await createTenantSession(cp);
  for (const session of [practice, other]) {
    await expectOk(
      msp.request('PUT', `/sites/${session.site.id}/maintenance-policy`, { maxConcurrentJobs: 100 }),
    );
  }
  agent = await practice.enrollAgent();
  await agent.publishInventory(1, [
    device(1),
    device(2),
    device(3),
    // Not a target: another vendor.
    device(4, { vendor: 'Baxter', model: 'Sigma Spectrum' }),
  ]);
  await agent.waitForAck(1);
  otherAgent = await other.enrollAgent();
  await otherAgent.publishInventory(1, [device(900)]);
  await otherAgent.waitForAck(1);

  technician = await signInAs(cp, 'msp_technician');
  admin = await signInAs(cp, 'practice_admin', { tenantId: practice.tenant.id });
  otherAdmin = await signInAs(cp, 'practice_admin', { tenantId: other.tenant.id });
  viewer = (await signInAs(cp, 'practice_viewer', { tenantId: practice.tenant.id })).api;
  const outsiderOrganization = await cp.app
    .get(OrganizationService)
    .create('Outsider MSP', `outsider-${randomUUID().slice(0, 8)}`);
  outsider = new ApiClient(cp.httpUrl, outsiderOrganization.apiKey.token);

  campaignId = (
    await expectOk(
      msp.post('/campaigns', {
        name: `Alaris battery and 12.3 ${randomUUID().slice(0, 6)}`,
        tenantIds: [practice.tenant.id, other.tenant.id],
        target: { vendor: 'bd', models: [ALARIS] },
        procedure: PROCEDURE,
        waves: [{ percent: 100 }],
        abort: { failurePercent: 90, minExecuted: 10 },
        catchUp: { mode: 'next-window', maxRollovers: 3 },
        durations: { minutesByModel: { [ALARIS]: 30 }, marginMinutes: 0 },
        // Tomorrow noon UTC, whatever day the suite runs.
        earliestStart: new Date(Math.ceil(Date.now() / DAY) * DAY + DAY / 2).toISOString(),
        horizonDays: 14,
      }),
    )
  ).id;
  await expectOk(admin.api.post(`/campaigns/${campaignId}/approve`, {}));
  await expectOk(otherAdmin.api.post(`/campaigns/${campaignId}/approve`, {}));
  await expectOk(msp.post(`/campaigns/${campaignId}/start`));
  // The first night both sites' windows are open (both in New York time: the same instant).
  const first = await owner.query(
    `SELECT max(start) AS start FROM (
       SELECT min(window_start) AS start FROM patch_jobs WHERE campaign_id = $1 GROUP BY site_id) AS nights`,
    [campaignId],
  );
  windowStart = first.rows[0].start;

  // Before the window: the dispatcher gives the agents the work-order key; they report the config applied.
  const clock = cp.app.get(DispatchClock);
  const dispatcher = cp.app.get(PatchDispatcher);
  clock.set(new Date(windowStart.getTime() - MINUTE));
  await dispatcher.tick();
  for (const each of [agent, otherAgent]) await reports.applyConfig(each);
  clock.set(new Date(windowStart.getTime() + MINUTE));
  const tick = await dispatcher.tick();
  expect(tick.dispatched).toHaveLength(4);

  const rows = await jobRows();
  const own = rows.filter((row) => row.tenant_id === practice.tenant.id);
  [waitingA, waitingB, notStarted] = [
    must(own[0], 'a first job').id,
    must(own[1], 'a second job').id,
    must(own[2], 'a third job').id,
  ];
  foreign = must(
    rows.find((row) => row.tenant_id === other.tenant.id),
    'the other practice’s job',
  ).id;
  await handToTechnician(agent, waitingA);
  await handToTechnician(agent, waitingB);
  await handToTechnician(otherAgent, foreign);
}, 120_000);

afterAll(async () => {
  for (const each of [agent, otherAgent]) await each?.close();
  await owner?.end();
  await cp?.stop();
});

describe('the fixture', () => {
  it('has the agent’s reports applied: three jobs waiting for a technician, one dispatched', async () => {
    const rows = await jobRows();
    expect(rows).toHaveLength(4);
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const id of [waitingA, waitingB, foreign]) {
      expect(byId.get(id)?.state).toBe('running');
      expect((await jobRow(id)).result).toMatchObject({ agentState: 'waiting_manual' });
    }
    expect(byId.get(notStarted)?.state).toBe('dispatched');
  });
});

describe('GET /patch-jobs', () => {
  it('lists the caller’s tenants’ jobs: the MSP sees both practices, a practice only its own', async () => {
    const all = await expectOk(msp.get(`/patch-jobs?campaignId=${campaignId}`));
    expect(ids(all).sort()).toEqual((await jobRows()).map((row) => row.id).sort());
    const own = await expectOk(admin.api.get('/patch-jobs'));
    expect(ids(own).sort()).toEqual([waitingA, waitingB, notStarted].sort());
    expect(own.items.every((item: { tenantId: string }) => item.tenantId === practice.tenant.id)).toBe(true);
    // Filtering by a tenant outside the caller's reach answers nothing, not an error that confirms it exists.
    expect(await expectOk(admin.api.get(`/patch-jobs?tenantId=${other.tenant.id}`))).toEqual({
      items: [],
      nextCursor: null,
    });
    expect((await expectOk(outsider.get('/patch-jobs'))).items).toEqual([]);
  });

  it('waitingManual=true is the technicians’ worklist, with the campaign’s checklist', async () => {
    const worklist = await expectOk(technician.api.get('/patch-jobs?waitingManual=true'));
    expect(ids(worklist).sort()).toEqual([waitingA, waitingB, foreign].sort());
    for (const item of worklist.items) {
      expect(item).toMatchObject({
        state: 'running',
        waitingManual: true,
        agentState: 'waiting_manual',
        campaign: { id: campaignId, action: 'manual_procedure' },
        checklist: PROCEDURE,
      });
    }
    const practiceList = await expectOk(admin.api.get('/patch-jobs?waitingManual=true'));
    expect(ids(practiceList).sort()).toEqual([waitingA, waitingB].sort());
    const rest = await expectOk(admin.api.get('/patch-jobs?waitingManual=false'));
    expect(ids(rest)).toEqual([notStarted]);
  });

  it('filters by state, site, tenant and campaign', async () => {
    expect(ids(await expectOk(msp.get('/patch-jobs?state=dispatched')))).toEqual([notStarted]);
    expect(ids(await expectOk(msp.get(`/patch-jobs?siteId=${other.site.id}`)))).toEqual([foreign]);
    expect(ids(await expectOk(msp.get(`/patch-jobs?tenantId=${other.tenant.id}&state=running`)))).toEqual([
      foreign,
    ]);
    expect((await expectOk(msp.get(`/patch-jobs?campaignId=${randomUUID()}`))).items).toEqual([]);
  });

  it('pages with a keyset cursor, each job once, in id order', async () => {
    const pages = await msp.pages<{ id: string }>(`/patch-jobs?campaignId=${campaignId}`, 1);
    expect(pages).toHaveLength(4);
    const walked = pages.flatMap((page) => ids(page));
    expect(walked).toEqual((await jobRows()).map((row) => row.id));
  });

  it('refuses a malformed filter with a code', async () => {
    for (const query of ['waitingManual=yes', 'state=waiting', 'campaignId=1', 'cursor=bm90LWEtdXVpZA']) {
      const response = await msp.get(`/patch-jobs?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toMatch(/^(VALIDATION_FAILED|INVALID_CURSOR)$/);
    }
  });
});

describe('GET /patch-jobs/:id', () => {
  it('answers the job with its device, site, campaign and window in UTC and site-local time', async () => {
    const job = await expectOk(admin.api.get(`/patch-jobs/${waitingA}`));
    const row = must(
      (await jobRows()).find((each) => each.id === waitingA),
      'the job row',
    );
    const stored = await owner.query(
      `SELECT vendor, model, firmware_version, mac::text AS mac FROM devices WHERE id = $1`,
      [row.device_id],
    );
    const campaign = await expectOk(msp.get(`/campaigns/${campaignId}`));
    expect(job).toMatchObject({
      id: waitingA,
      tenantId: practice.tenant.id,
      state: 'running',
      waitingManual: true,
      attempt: 1,
      agentId: agent.identity.agentId,
      campaign: { id: campaignId, name: campaign.name, action: 'manual_procedure', artifactVersion: null },
      checklist: PROCEDURE,
      site: { id: practice.site.id, name: practice.site.name, timeZone: 'America/New_York' },
      device: {
        id: row.device_id,
        vendor: 'BD',
        model: ALARIS,
        firmwareVersion: '12.1.2',
        mac: stored.rows[0].mac,
        category: 'infusion_pump',
      },
      result: { agentState: 'waiting_manual' },
    });
    expect(stored.rows[0]).toMatchObject({ vendor: 'BD', model: ALARIS, firmware_version: '12.1.2' });
    // The default window: 22:00–05:00 New York time, whichever offset is in force that night.
    expect(job.window.startUtc).toBe(windowStart.toISOString());
    expect(job.window.startLocal).toMatch(/T22:00:00-0[45]:00$/);
    expect(job.window.endLocal).toMatch(/T05:00:00-0[45]:00$/);
    expect(job.window.minutes).toBe(7 * 60);
    expect(job.window.localDate).toBe(job.window.startLocal.slice(0, 10));
    expect(Date.parse(job.planned.startUtc)).toBeGreaterThanOrEqual(windowStart.getTime());
    expect(Date.parse(job.planned.endUtc) - Date.parse(job.planned.startUtc)).toBe(30 * MINUTE);
    expect(job.planned.startLocal).toMatch(/-0[45]:00$/);
  });

  it('is a 404 for another tenant’s job, from a sibling practice or another organization', async () => {
    for (const [who, api] of [
      ['practice admin', admin.api],
      ['outsider', outsider],
    ] as const) {
      const response = await api.get(`/patch-jobs/${foreign}`);
      expect(response.status, who).toBe(404);
      expect(response.body.error.code, who).toBe('NOT_FOUND');
      expect(JSON.stringify(response.body), who).not.toContain(other.tenant.id);
    }
    expect((await otherAdmin.api.get(`/patch-jobs/${foreign}`)).status).toBe(200);
    expect((await msp.get(`/patch-jobs/${randomUUID()}`)).status).toBe(404);
  });
});

describe('GET /patch-jobs/:id/history', () => {
  it('answers the job’s events in the order recorded, paged', async () => {
    const history = await expectOk(admin.api.get(`/patch-jobs/${waitingA}/history`));
    expect(
      history.items.map((event: { source: string; state: string }) => [event.source, event.state]),
    ).toEqual([
      ['dispatcher', 'dispatched'],
      ['agent', 'accepted'],
      ['agent', 'waiting_manual'],
    ]);
    expect(history.nextCursor).toBeNull();
    expect(history.items[1]).toMatchObject({ attempt: 1, agentSeq: expect.any(Number) });
    const pages = await admin.api.pages<{ id: number }>(`/patch-jobs/${waitingA}/history`, 2);
    expect(pages.map((page) => page.items.length)).toEqual([2, 1]);
    expect(pages.flatMap((page) => page.items)).toEqual(history.items);
  });

  it('is a 404 for another tenant’s job and refuses a bad cursor', async () => {
    const response = await admin.api.get(`/patch-jobs/${foreign}/history`);
    expect(response.status).toBe(404);
    expect(JSON.stringify(response.body)).not.toContain('waiting_manual');
    const bad = await admin.api.get(`/patch-jobs/${waitingA}/history?cursor=${randomUUID()}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_CURSOR');
  });
});

describe('after the window', () => {
  it('keeps jobs waiting for a technician on the worklist; a dispatched job that never reported times out', async () => {
    const ends = await owner.query(`SELECT max(window_end) AS end FROM patch_jobs WHERE campaign_id = $1`, [
      campaignId,
    ]);
    cp.app.get(DispatchClock).set(new Date(ends.rows[0].end.getTime() + MINUTE));
    await cp.app.get(PatchDispatcher).tick();
    for (const id of [waitingA, waitingB, foreign]) expect((await jobRow(id)).state).toBe('running');
    expect(ids(await expectOk(msp.get('/patch-jobs?waitingManual=true'))).sort()).toEqual(
      [waitingA, waitingB, foreign].sort(),
    );
    expect((await jobRow(notStarted)).state).toBe('planned');
    const history = await expectOk(msp.get(`/patch-jobs/${notStarted}/history`));
    expect(history.items.at(-1)).toMatchObject({
      source: 'dispatcher',
      state: 'deferred',
      reason: 'TIMEOUT',
    });
  });
});

describe('POST /patch-jobs/:id/confirm', () => {
  it('is refused to roles without job:confirm', async () => {
    const response = await viewer.post(`/patch-jobs/${waitingA}/confirm`, { outcome: 'failed' });
    expect(response.status).toBe(403);
    expect(response.body.error.details.permission).toBe('job:confirm');
    expect((await jobRow(waitingA)).state).toBe('running');
  });

  it('validates the report: the version the procedure installs is required for a success', async () => {
    const missing = await technician.api.post(`/patch-jobs/${waitingA}/confirm`, { outcome: 'succeeded' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({
      code: 'FIRMWARE_VERSION_REQUIRED',
      details: { expectedVersion: '12.3.0' },
    });
    for (const body of [
      { outcome: 'done' },
      { outcome: 'failed', note: 'x'.repeat(1001) },
      { outcome: 'succeeded', firmwareVersion: '' },
    ]) {
      const response = await technician.api.post(`/patch-jobs/${waitingA}/confirm`, body);
      expect(response.status, JSON.stringify(body).slice(0, 40)).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await jobRow(waitingA)).state).toBe('running');
  });

  it('is a 409 with the state for a job that is not waiting for a technician', async () => {
    const response = await technician.api.post(`/patch-jobs/${notStarted}/confirm`, {
      outcome: 'succeeded',
      firmwareVersion: '12.3.0',
    });
    expect(response.status).toBe(409);
    expect(response.body.error).toMatchObject({
      code: 'JOB_NOT_WAITING_MANUAL',
      details: { state: 'planned' },
    });
    expect((await jobRow(notStarted)).state).toBe('planned');
  });

  it('is a 404 for another tenant’s job, which stays waiting', async () => {
    for (const api of [admin.api, outsider]) {
      const response = await api.post(`/patch-jobs/${foreign}/confirm`, { outcome: 'failed' });
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    }
    expect((await jobRow(foreign)).state).toBe('running');
  });

  it('ends the job succeeded, with the technician’s report in its result, history and the audit trail', async () => {
    const firmwareBefore = await owner.query(
      `SELECT d.firmware_version FROM devices d JOIN patch_jobs j ON j.device_id = d.id WHERE j.id = $1`,
      [waitingA],
    );
    const confirmed = await expectOk(
      technician.api.post(`/patch-jobs/${waitingA}/confirm`, {
        outcome: 'succeeded',
        firmwareVersion: '12.3.0',
        note: 'Battery replaced; the service tool reads back 12.3.0',
      }),
    );
    const technicianRef = `user:${technician.user.id}`;
    expect(confirmed).toMatchObject({
      id: waitingA,
      state: 'succeeded',
      waitingManual: false,
      result: {
        source: 'technician',
        technician: technicianRef,
        firmwareVersion: '12.3.0',
        note: 'Battery replaced; the service tool reads back 12.3.0',
      },
    });
    expect(confirmed.result.reason).toBeUndefined();
    expect(confirmed.finishedAt).not.toBeNull();
    const row = await jobRow(waitingA);
    expect(row.state).toBe('succeeded');
    expect(row.finished_at).not.toBeNull();

    const history = await expectOk(technician.api.get(`/patch-jobs/${waitingA}/history`));
    expect(history.items.at(-1)).toMatchObject({
      source: 'technician',
      state: 'succeeded',
      attempt: 1,
      agentSeq: null,
      reason: null,
      firmwareVersion: '12.3.0',
      detail: 'Battery replaced; the service tool reads back 12.3.0',
    });

    const entries = (await auditEntries(msp, 'action=patch_job.confirm')).filter(
      (entry) => entry.target?.id === waitingA,
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      tenantId: practice.tenant.id,
      actor: { kind: 'user', id: technician.user.id },
      target: { type: 'patch_job', id: waitingA },
      before: { state: 'running', agentState: 'waiting_manual' },
      after: { state: 'succeeded', result: { technician: technicianRef, firmwareVersion: '12.3.0' } },
      details: { campaignId, outcome: 'succeeded', attempt: 1 },
    });
    // The inventory stays what the agent observes: the reported version is kept with the job, not in devices.
    const firmwareAfter = await owner.query(
      `SELECT d.firmware_version FROM devices d JOIN patch_jobs j ON j.device_id = d.id WHERE j.id = $1`,
      [waitingA],
    );
    expect(firmwareAfter.rows).toEqual(firmwareBefore.rows);

    // Ended: off the worklist, and a second confirmation is a 409 that names the state.
    expect(ids(await expectOk(admin.api.get('/patch-jobs?waitingManual=true')))).toEqual([waitingB]);
    const again = await admin.api.post(`/patch-jobs/${waitingA}/confirm`, { outcome: 'failed' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'JOB_NOT_WAITING_MANUAL',
      details: { state: 'succeeded' },
    });
  });

  it('lets only one of simultaneous confirmations win; the others are a 409', async () => {
    const success = { outcome: 'succeeded', firmwareVersion: '12.3.0' };
    const failure = { outcome: 'failed', note: 'The pump would not power on after the battery swap' };
    const responses = await Promise.all([
      technician.api.post(`/patch-jobs/${foreign}/confirm`, success),
      otherAdmin.api.post(`/patch-jobs/${foreign}/confirm`, failure),
      technician.api.post(`/patch-jobs/${foreign}/confirm`, failure),
      otherAdmin.api.post(`/patch-jobs/${foreign}/confirm`, success),
    ]);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 409, 409, 409]);
    const winner = must(
      responses.find((response) => response.status === 200),
      'the winning confirmation',
    );
    for (const loser of responses.filter((response) => response.status === 409)) {
      expect(loser.body.error).toMatchObject({
        code: 'JOB_NOT_WAITING_MANUAL',
        details: { state: winner.body.state },
      });
    }
    expect((await jobRow(foreign)).state).toBe(winner.body.state);
    const events = await owner.query(
      `SELECT state FROM patch_job_events WHERE job_id = $1 AND source = 'technician'`,
      [foreign],
    );
    expect(events.rows).toEqual([{ state: winner.body.state }]);
    const entries = (await auditEntries(msp, 'action=patch_job.confirm')).filter(
      (entry) => entry.target?.id === foreign,
    );
    expect(entries).toHaveLength(1);
  });

  it('ends the job failed with TECHNICIAN_REPORTED_FAILURE, by the practice’s own administrator', async () => {
    const confirmed = await expectOk(
      admin.api.post(`/patch-jobs/${waitingB}/confirm`, {
        outcome: 'failed',
        firmwareVersion: '12.1.2',
        note: 'The service port is damaged; the vendor has to send an engineer',
      }),
    );
    expect(confirmed).toMatchObject({
      state: 'failed',
      result: {
        source: 'technician',
        technician: `user:${admin.user.id}`,
        reason: 'TECHNICIAN_REPORTED_FAILURE',
        firmwareVersion: '12.1.2',
        note: 'The service port is damaged; the vendor has to send an engineer',
      },
    });
    const row = await jobRow(waitingB);
    expect(row).toMatchObject({ state: 'failed', result: { reason: 'TECHNICIAN_REPORTED_FAILURE' } });
    expect(row.finished_at).not.toBeNull();
    const events = await owner.query(
      `SELECT source, state, reason, firmware_version, detail FROM patch_job_events WHERE job_id = $1 ORDER BY id`,
      [waitingB],
    );
    expect(events.rows.at(-1)).toEqual({
      source: 'technician',
      state: 'failed',
      reason: 'TECHNICIAN_REPORTED_FAILURE',
      firmware_version: '12.1.2',
      detail: 'The service port is damaged; the vendor has to send an engineer',
    });
    const [entry] = (await auditEntries(admin.api, 'action=patch_job.confirm')).filter(
      (each) => each.target?.id === waitingB,
    );
    expect(entry).toMatchObject({ tenantId: practice.tenant.id, details: { outcome: 'failed' } });
    expect((await expectOk(admin.api.get('/patch-jobs?waitingManual=true'))).items).toEqual([]);
  });
});
