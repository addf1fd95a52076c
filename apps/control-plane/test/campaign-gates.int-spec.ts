// Wave gating and the abort threshold against real PostgreSQL and MQTT: the dispatcher releases a campaign's next
// wave only once the one before finished at its gate's success rate; a wave below its gate, or a failure share at
// the abort threshold, pauses the campaign (once, however many dispatchers tick at the same time), with the reason
// in the API and the system as the actor in the audit trail; resuming overrides the gate or counts the threshold
// from there; jobs of a wave held back past their window move to the next one uncounted, and a dispatched job that
// never reports times out at the window's end and runs again the next night; a county freeze declared after the
// plan cuts the night short: orders that cannot finish before it are not sent, those sent end before it, and jobs
// due inside it move to the first slot after it.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobProgressBody } from '@medfleet/contracts';
import { DispatchClock } from '../src/modules/dispatch/dispatch-clock.js';
import { PatchDispatcher, type TickResult } from '../src/modules/dispatch/patch-dispatch.job.js';
import { AgentReports } from './support/agent-reports.js';
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
const MINUTE = 60_000;
const ALARIS = 'Alaris 8015 PC Unit';

let cp: TestControlPlane;
let owner: pg.Client;
let practice: TenantSession;
let reports: AgentReports;
let gatedSite: SiteRecord;
let abortSite: SiteRecord;
let frozenSite: SiteRecord;
let slowSite: SiteRecord;
let slowAgent: EnrolledAgent;
let gatedAgent: EnrolledAgent;
let abortAgent: EnrolledAgent;
let frozenAgent: EnrolledAgent;

interface JobRow {
  id: string;
  wave: number;
  state: string;
  attempt: number;
  rollovers: number;
  window_start: Date;
  window_end: Date;
}

async function jobsOf(campaignId: string): Promise<JobRow[]> {
  const result = await owner.query(
    `SELECT id, wave, state::text AS state, attempt, rollovers, window_start, window_end
       FROM patch_jobs WHERE campaign_id = $1 ORDER BY wave, id`,
    [campaignId],
  );
  return result.rows;
}

function setClock(instant: Date): void {
  cp.app.get(DispatchClock).set(instant);
}

/** Two ticks at once, as two replicas would run them. */
async function tickTwice(): Promise<TickResult[]> {
  const dispatcher = cp.app.get(PatchDispatcher);
  return Promise.all([dispatcher.tick(), dispatcher.tick()]);
}

async function finish(
  agent: EnrolledAgent,
  campaignId: string,
  jobs: readonly JobRow[],
  outcome: (index: number) => 'succeeded' | 'failed',
): Promise<void> {
  let last = 0;
  for (const [index, job] of jobs.entries()) {
    const base = { jobId: job.id, campaignId, attempt: job.attempt, at: new Date().toISOString() };
    const body: JobProgressBody =
      outcome(index) === 'succeeded'
        ? { ...base, state: 'succeeded', firmwareVersion: '12.3.0' }
        : {
            ...base,
            state: 'failed',
            reason: 'FIRMWARE_NOT_UPDATED',
            step: 'verify',
            firmwareVersion: '12.1.2',
            detail: 'the device came back on its old firmware',
          };
    last = await reports.progress(agent, body);
  }
  await agent.waitForAck(last);
}

async function enrollWith(site: SiteRecord, first: number, count: number): Promise<EnrolledAgent> {
  const agent = await practice.enrollAgent({ siteId: site.id });
  await agent.publishInventory(
    1,
    Array.from({ length: count }, (_, n) => device(first + n)),
  );
  await agent.waitForAck(1);
  return agent;
}

async function startCampaign(body: Record<string, unknown>): Promise<string> {
  const admin = (await signInAs(cp, 'practice_admin', { tenantId: practice.tenant.id })).api;
  const id = (
    await expectOk(
      practice.api.post('/campaigns', {
        name: `Alaris 12.3 ${randomUUID().slice(0, 6)}`,
        tenantIds: [practice.tenant.id],
        target: { vendor: 'bd', models: [ALARIS], firmware: { min: '12.0', max: '12.3' } },
        artifact: {
          version: '12.3.0',
          sha256: 'c'.repeat(64),
          signature: Buffer.from('signed by the vendor').toString('base64'),
          sizeBytes: 52_428_800,
        },
        catchUp: { mode: 'next-window', maxRollovers: 3 },
        durations: { minutesByModel: { [ALARIS]: 30 }, marginMinutes: 0 },
        earliestStart: new Date(Math.ceil(Date.now() / DAY) * DAY + DAY / 2).toISOString(),
        horizonDays: 14,
        ...body,
      }),
    )
  ).id;
  await expectOk(admin.post(`/campaigns/${id}/approve`, {}));
  await expectOk(practice.api.post(`/campaigns/${id}/start`));
  return id;
}

beforeAll(async () => {
  cp = await startTestControlPlane({ DISPATCH_INTERVAL_SEC: '0' });
  owner = await cp.owner();
  practice = await createTenantSession(cp);
  reports = new AgentReports(practice);
  gatedSite = await practice.createSite({ timeZone: 'America/New_York', county: 'Miami-Dade' });
  abortSite = await practice.createSite({ timeZone: 'America/New_York', county: 'Broward' });
  frozenSite = await practice.createSite({ timeZone: 'America/New_York', county: 'Monroe' });
  await expectOk(
    practice.api.request('PUT', `/sites/${frozenSite.id}/maintenance-policy`, { maxConcurrentJobs: 2 }),
  );
  for (const site of [gatedSite, abortSite]) {
    await expectOk(
      practice.api.request('PUT', `/sites/${site.id}/maintenance-policy`, { maxConcurrentJobs: 100 }),
    );
  }
  gatedAgent = await enrollWith(gatedSite, 1, 10);
  abortAgent = await enrollWith(abortSite, 101, 6);
  frozenAgent = await enrollWith(frozenSite, 201, 4);
  slowSite = await practice.createSite({ timeZone: 'America/New_York', county: 'Collier' });
  await expectOk(
    practice.api.request('PUT', `/sites/${slowSite.id}/maintenance-policy`, { maxConcurrentJobs: 10 }),
  );
  slowAgent = await enrollWith(slowSite, 301, 3);
  // The agents receive the signing key in a new config and report it applied: orders may go to them.
  await cp.app.get(PatchDispatcher).tick();
  for (const agent of [gatedAgent, abortAgent, frozenAgent, slowAgent]) await reports.applyConfig(agent);
}, 120_000);

afterAll(async () => {
  for (const agent of [gatedAgent, abortAgent, frozenAgent, slowAgent]) await agent?.close();
  await owner?.end();
  await cp?.stop();
});

describe('a canary, then percentages, each gated on its success rate', () => {
  let campaignId: string;
  let jobs: JobRow[];

  beforeAll(async () => {
    const listed = await expectOk(practice.api.get(`/devices?siteId=${gatedSite.id}&limit=500`));
    const deviceIds = listed.items.map((item: { id: string }) => item.id).sort();
    campaignId = await startCampaign({
      siteIds: [gatedSite.id],
      waves: [
        { canaryDeviceIds: deviceIds.slice(0, 2), successRatePercent: 100 },
        { percent: 50 },
        { percent: 50 },
      ],
      successRatePercent: 80,
      abort: { failurePercent: 90, minExecuted: 100 },
    });
    jobs = await jobsOf(campaignId);
    expect(jobs.map((job) => job.wave)).toEqual([0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    setClock(new Date(Math.max(...jobs.map((job) => job.window_start.getTime())) + MINUTE));
  });

  it('dispatches only the canary while it runs', async () => {
    await tickTwice();
    await tickTwice();
    jobs = await jobsOf(campaignId);
    expect(jobs.filter((job) => job.state === 'dispatched').map((job) => job.wave)).toEqual([0, 0]);
    const progress = await expectOk(practice.api.get(`/campaigns/${campaignId}/progress`));
    expect(progress.releasedWave).toBe(0);
    expect(progress.waves.map((wave: { released: boolean }) => wave.released)).toEqual([true, false, false]);
  });

  it('releases the next wave once the canary passed, in the same tick', async () => {
    await finish(gatedAgent, campaignId, jobs.slice(0, 2), () => 'succeeded');
    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([
      { campaignId, decision: 'release', wave: 1 },
    ]);
    jobs = await jobsOf(campaignId);
    expect(jobs.filter((job) => job.state === 'dispatched').map((job) => job.wave)).toEqual([1, 1, 1, 1]);
    const [entry] = await auditEntries(practice.api, 'action=campaign.release_wave');
    expect(entry).toMatchObject({
      actor: { kind: 'system', display: 'dispatcher' },
      target: { type: 'campaign', id: campaignId },
      after: { releasedWave: 1 },
      details: { passedWave: 0, successRatePercent: 100 },
    });
  });

  it('pauses once, with GATE_FAILED, when a wave finishes below its gate', async () => {
    const wave1 = jobs.filter((job) => job.wave === 1);
    await finish(gatedAgent, campaignId, wave1, (index) => (index === 0 ? 'failed' : 'succeeded'));
    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([
      { campaignId, decision: 'pause', code: 'GATE_FAILED' },
    ]);
    const campaign = await expectOk(practice.api.get(`/campaigns/${campaignId}`));
    expect(campaign).toMatchObject({
      state: 'paused',
      releasedWave: 1,
      pauseReason: { code: 'GATE_FAILED', wave: 1, nextWave: 2, successRatePercent: 75, gatePercent: 80 },
    });
    const pauses = await auditEntries(practice.api, 'action=campaign.pause');
    expect(pauses).toHaveLength(1);
    expect(pauses[0]).toMatchObject({ actor: { kind: 'system' }, details: { code: 'GATE_FAILED' } });
    expect(
      (await jobsOf(campaignId)).filter((job) => job.wave === 2).every((job) => job.state === 'planned'),
    ).toBe(true);
    await tickTwice();
    expect((await jobsOf(campaignId)).filter((job) => job.state === 'dispatched')).toHaveLength(0);
  });

  it('moves the held wave of the paused campaign to the next window without counting a rollover', async () => {
    const before = (await jobsOf(campaignId)).filter((job) => job.wave === 2);
    const windowEnd = Math.max(...before.map((job) => job.window_end.getTime()));
    setClock(new Date(windowEnd + MINUTE));
    await tickTwice();
    const after = (await jobsOf(campaignId)).filter((job) => job.wave === 2);
    for (const job of after) {
      expect(job).toMatchObject({ state: 'planned', rollovers: 0 });
      expect(job.window_start.getTime()).toBeGreaterThan(windowEnd);
    }
    const events = await owner.query(
      `SELECT DISTINCT reason FROM patch_job_events WHERE job_id = ANY($1::uuid[])`,
      [after.map((job) => job.id)],
    );
    expect(events.rows).toEqual([{ reason: 'CAMPAIGN_PAUSED' }]);
  });

  it('an operator resuming overrides the gate: the next wave goes out, and the campaign completes', async () => {
    const resumed = await expectOk(practice.api.post(`/campaigns/${campaignId}/resume`));
    expect(resumed).toMatchObject({ state: 'running', releasedWave: 2, pauseReason: null });
    const [entry] = await auditEntries(practice.api, 'action=campaign.resume');
    expect(entry?.details).toEqual({ gateOverridden: { wave: 1, released: 2 } });
    const wave2 = (await jobsOf(campaignId)).filter((job) => job.wave === 2);
    setClock(new Date(Math.max(...wave2.map((job) => job.window_start.getTime())) + MINUTE));
    await tickTwice();
    jobs = await jobsOf(campaignId);
    expect(jobs.filter((job) => job.state === 'dispatched').map((job) => job.wave)).toEqual([2, 2, 2, 2]);
    await finish(
      gatedAgent,
      campaignId,
      jobs.filter((job) => job.wave === 2),
      () => 'succeeded',
    );
    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([{ campaignId, decision: 'complete' }]);
    const campaign = await expectOk(practice.api.get(`/campaigns/${campaignId}`));
    expect(campaign.state).toBe('completed');
    expect(campaign.finishedAt).not.toBeNull();
  });
});

describe('the abort threshold', () => {
  let campaignId: string;
  let jobs: JobRow[];

  beforeAll(async () => {
    campaignId = await startCampaign({
      siteIds: [abortSite.id],
      waves: [{ percent: 100 }],
      successRatePercent: 0,
      abort: { failurePercent: 50, minExecuted: 3 },
    });
    jobs = await jobsOf(campaignId);
    expect(jobs).toHaveLength(6);
    setClock(new Date(Math.max(...jobs.map((job) => job.window_start.getTime())) + MINUTE));
    await tickTwice();
    jobs = await jobsOf(campaignId);
    expect(jobs.every((job) => job.state === 'dispatched')).toBe(true);
  });

  it('is not reached before the minimum number of jobs ran', async () => {
    await finish(abortAgent, campaignId, jobs.slice(0, 2), () => 'failed');
    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([]);
    expect((await expectOk(practice.api.get(`/campaigns/${campaignId}`))).state).toBe('running');
  });

  it('pauses the campaign with ABORT_THRESHOLD once reached, with the figures', async () => {
    await finish(abortAgent, campaignId, jobs.slice(2, 3), () => 'succeeded');
    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([
      { campaignId, decision: 'pause', code: 'ABORT_THRESHOLD' },
    ]);
    const campaign = await expectOk(practice.api.get(`/campaigns/${campaignId}`));
    expect(campaign.pauseReason).toMatchObject({
      code: 'ABORT_THRESHOLD',
      executed: 3,
      failed: 2,
      failurePercent: 66.67,
    });
    const progress = await expectOk(practice.api.get(`/campaigns/${campaignId}/progress`));
    expect(progress.abort).toMatchObject({ executed: 3, failed: 2, reached: true });
  });

  it('resumed, counts from there; a job that never reports times out at the window end', async () => {
    const resumed = await expectOk(practice.api.post(`/campaigns/${campaignId}/resume`));
    expect(resumed.state).toBe('running');
    const [entry] = await auditEntries(practice.api, 'action=campaign.resume');
    expect(entry?.details).toEqual({ abortCountsFrom: { executed: 3, failed: 2 } });
    await finish(abortAgent, campaignId, jobs.slice(3, 5), () => 'succeeded');
    expect((await tickTwice()).flatMap((result) => result.campaigns)).toEqual([]);
    const progress = await expectOk(practice.api.get(`/campaigns/${campaignId}/progress`));
    expect(progress.abort).toMatchObject({
      countsFrom: { executed: 3, failed: 2 },
      executed: 2,
      reached: false,
    });

    const silent = jobs[5] as JobRow;
    setClock(new Date(silent.window_end.getTime() + MINUTE));
    await tickTwice();
    const [moved] = (await jobsOf(campaignId)).filter((job) => job.id === silent.id);
    expect(moved).toMatchObject({ state: 'planned', attempt: 1, rollovers: 1 });
    expect(moved?.window_start.getTime()).toBeGreaterThan(silent.window_end.getTime());
    const events = await owner.query(
      `SELECT source, state, reason FROM patch_job_events WHERE job_id = $1 ORDER BY id`,
      [silent.id],
    );
    expect(events.rows).toEqual([
      { source: 'dispatcher', state: 'dispatched', reason: null },
      { source: 'dispatcher', state: 'deferred', reason: 'TIMEOUT' },
    ]);
  });
});

describe('a freeze declared after the plan', () => {
  const HOUR = 60 * MINUTE;
  let campaignId: string;
  let opens: number;
  let deadline: (jobId: string) => Promise<Date | null>;

  beforeAll(async () => {
    campaignId = await startCampaign({
      siteIds: [frozenSite.id],
      waves: [{ percent: 100 }],
      abort: { failurePercent: 90, minExecuted: 100 },
    });
    const jobs = await jobsOf(campaignId);
    expect(jobs).toHaveLength(4);
    opens = Math.min(...jobs.map((job) => job.window_start.getTime()));
    await expectOk(
      practice.api.post('/blackouts', {
        scope: 'county',
        county: 'Monroe',
        kind: 'interval',
        start: new Date(opens + HOUR).toISOString(),
        end: new Date(opens + 3 * HOUR).toISOString(),
        reason: 'Hurricane warning: change freeze',
      }),
    );
    deadline = async (jobId) =>
      (await owner.query(`SELECT deadline FROM patch_jobs WHERE id = $1`, [jobId])).rows[0].deadline;
  });

  it('sends only orders that finish before it starts, with the deadline before it', async () => {
    setClock(new Date(opens + 10 * MINUTE));
    await tickTwice();
    const sent = (await jobsOf(campaignId)).filter((job) => job.state === 'dispatched');
    expect(sent).toHaveLength(2);
    for (const job of sent) {
      expect(await deadline(job.id)).toEqual(new Date(opens + HOUR - 300_000));
    }
    await finish(frozenAgent, campaignId, sent, () => 'succeeded');
    // 45 minutes in, a 30-minute job would run into the freeze: none goes out.
    setClock(new Date(opens + 45 * MINUTE));
    await tickTwice();
    expect((await jobsOf(campaignId)).filter((job) => job.state === 'dispatched')).toHaveLength(0);
  });

  it('moves the jobs due inside it to the first slot after it, uncounted, and sends them there', async () => {
    setClock(new Date(opens + 70 * MINUTE));
    await tickTwice();
    const waiting = (await jobsOf(campaignId)).filter((job) => job.state === 'planned');
    expect(waiting).toHaveLength(2);
    for (const job of waiting) {
      expect(job).toMatchObject({ rollovers: 0 });
      expect(job.window_start).toEqual(new Date(opens + 3 * HOUR));
    }
    const events = await owner.query(
      `SELECT DISTINCT reason FROM patch_job_events WHERE job_id = ANY($1::uuid[])`,
      [waiting.map((job) => job.id)],
    );
    expect(events.rows).toEqual([{ reason: 'BLACKOUT' }]);
    setClock(new Date(opens + 3 * HOUR + MINUTE));
    await tickTwice();
    const sent = (await jobsOf(campaignId)).filter((job) => job.state === 'dispatched');
    expect(sent.map((job) => job.id).sort()).toEqual(waiting.map((job) => job.id).sort());
    for (const job of sent) {
      expect(await deadline(job.id)).toEqual(new Date(job.window_end.getTime() - 300_000));
    }
  });
});

describe('a canary that never reports', () => {
  it('times out at the window end, and the wave behind it moves to the next night uncounted', async () => {
    const listed = await expectOk(practice.api.get(`/devices?siteId=${slowSite.id}&limit=500`));
    const canary = listed.items.map((item: { id: string }) => item.id).sort()[0];
    const campaignId = await startCampaign({
      siteIds: [slowSite.id],
      waves: [{ canaryDeviceIds: [canary] }, { percent: 100 }],
      abort: { failurePercent: 90, minExecuted: 100 },
    });
    const jobs = await jobsOf(campaignId);
    setClock(new Date(Math.max(...jobs.map((job) => job.window_start.getTime())) + MINUTE));
    await tickTwice();
    expect((await jobsOf(campaignId)).map((job) => job.state)).toEqual(['dispatched', 'planned', 'planned']);
    const windowEnd = Math.max(...jobs.map((job) => job.window_end.getTime()));
    // Within the deadline margin of the window's end nothing goes out, and nothing moves before it ends.
    setClock(new Date(windowEnd - 2 * MINUTE));
    expect((await tickTwice()).flatMap((result) => result.dispatched)).toEqual([]);
    expect(
      (await jobsOf(campaignId)).map((job) => [job.state, job.rollovers, job.window_end.getTime()]),
    ).toEqual([
      ['dispatched', 0, windowEnd],
      ['planned', 0, windowEnd],
      ['planned', 0, windowEnd],
    ]);
    setClock(new Date(windowEnd + MINUTE));
    await tickTwice();
    const after = await jobsOf(campaignId);
    expect(after.map((job) => [job.wave, job.state, job.rollovers])).toEqual([
      [0, 'planned', 1],
      [1, 'planned', 0],
      [1, 'planned', 0],
    ]);
    for (const job of after) expect(job.window_start.getTime()).toBeGreaterThan(windowEnd);
    const reasons = await owner.query(
      `SELECT j.wave, e.reason FROM patch_job_events e JOIN patch_jobs j ON j.id = e.job_id
        WHERE j.campaign_id = $1 AND e.state = 'deferred' ORDER BY j.wave`,
      [campaignId],
    );
    expect(reasons.rows).toEqual([
      { wave: 0, reason: 'TIMEOUT' },
      { wave: 1, reason: 'WAVE_NOT_RELEASED' },
      { wave: 1, reason: 'WAVE_NOT_RELEASED' },
    ]);
  });
});

describe('jobs held for an operator', () => {
  it('are put back in the plan or cancelled through the API, and the campaign completes without the cancelled', async () => {
    const campaignId = await startCampaign({
      siteIds: [slowSite.id],
      waves: [{ percent: 100 }],
      abort: { failurePercent: 90, minExecuted: 100 },
      catchUp: { mode: 'hold' },
    });
    const jobs = await jobsOf(campaignId);
    const opens = Math.max(...jobs.map((job) => job.window_start.getTime()));
    setClock(new Date(opens + MINUTE));
    await tickTwice();
    const [inUse, done, silent] = (await jobsOf(campaignId)) as [JobRow, JobRow, JobRow];
    expect([inUse.state, done.state, silent.state]).toEqual(['dispatched', 'dispatched', 'dispatched']);
    const base = (job: JobRow) => ({ jobId: job.id, campaignId, attempt: 1, at: new Date().toISOString() });
    await reports.progress(slowAgent, {
      ...base(inUse),
      state: 'deferred',
      reason: 'IN_CLINICAL_USE',
      step: 'precheck',
      detail: 'the device reports it is in clinical use',
    });
    await finish(slowAgent, campaignId, [done], () => 'succeeded');
    // The campaign holds deferred jobs for an operator.
    await tickTwice();
    const held = await expectOk(practice.api.get(`/patch-jobs/${inUse.id}`));
    expect(held).toMatchObject({ state: 'deferred', result: { unplaced: { reason: 'HELD_FOR_OPERATOR' } } });

    const refused = [
      [await practice.api.post(`/patch-jobs/${done.id}/retry`), 'JOB_NOT_HELD'],
      [await practice.api.post(`/patch-jobs/${silent.id}/cancel`, {}), 'JOB_NOT_CANCELLABLE'],
      [await practice.api.post(`/patch-jobs/${done.id}/cancel`, {}), 'JOB_NOT_CANCELLABLE'],
    ] as const;
    for (const [response, code] of refused) {
      expect([response.status, response.body.error.code]).toEqual([409, code]);
    }

    const retried = await expectOk(practice.api.post(`/patch-jobs/${inUse.id}/retry`));
    expect(retried).toMatchObject({ state: 'planned', rollovers: 0 });
    expect(retried.result?.unplaced).toBeUndefined();
    const history = await expectOk(practice.api.get(`/patch-jobs/${inUse.id}/history`));
    expect(history.items.at(-1)).toMatchObject({
      source: 'technician',
      state: 'planned',
      reason: 'OPERATOR_RETRY',
    });
    setClock(new Date(Date.parse(retried.planned.startUtc) + MINUTE));
    await tickTwice();
    const again = (await jobsOf(campaignId)).find((job) => job.id === inUse.id) as JobRow;
    expect(again).toMatchObject({ state: 'dispatched', attempt: 2 });
    await finish(slowAgent, campaignId, [again], () => 'succeeded');

    // The silent job times out at the window end and is held too; the operator cancels it.
    setClock(new Date(silent.window_end.getTime() + MINUTE));
    await tickTwice();
    expect((await jobsOf(campaignId)).find((job) => job.id === silent.id)?.state).toBe('deferred');
    const cancelled = await expectOk(
      practice.api.post(`/patch-jobs/${silent.id}/cancel`, { note: 'The pump went back to the vendor' }),
    );
    expect(cancelled).toMatchObject({ state: 'cancelled' });
    const [entry] = (await auditEntries(practice.api, 'action=patch_job.cancel')).filter(
      (each) => each.target?.id === silent.id,
    );
    expect(entry).toMatchObject({ details: { note: 'The pump went back to the vendor' } });

    const results = await tickTwice();
    expect(results.flatMap((result) => result.campaigns)).toEqual([{ campaignId, decision: 'complete' }]);
  });
});
