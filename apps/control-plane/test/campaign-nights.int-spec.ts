// Patch campaigns end to end over two nights, with real agent processes and their simulated clinics: a clinic in
// New York and one in Los Angeles, real PostgreSQL and a real broker. The world's time is the test's: the dispatcher's
// clock is set by hand and each agent process runs on a clock shifted by libfaketime, as a device whose clock says
// that time would, so the agents judge their windows by their own clocks.
//
// Campaign 1 (one model at both clinics; canary of two New York devices, then the rest):
// - before 22:00 New York nothing goes out; at 22:01 only New York's canary does, never Los Angeles (19:01 there);
// - the rest waits for the canary: nothing of wave 2 is released while the canary runs, all of New York's is after;
// - a device in clinical use is deferred and goes to the next night, where it is updated;
// - the Los Angeles agent is off at its window's opening and, started twenty minutes later, catches up inside it;
// - every job ran inside its site's window, and succeeded only with the new firmware read back; then the campaign
//   completes.
// Campaign 2: the Los Angeles devices all fail (the simulator told to); past the abort threshold the campaign pauses
// (ABORT_THRESHOLD, with the figures) and releases nothing more.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '@medfleet/contracts';
import { DispatchClock } from '../src/modules/dispatch/dispatch-clock.js';
import { PatchDispatcher } from '../src/modules/dispatch/patch-dispatch.job.js';
import { enrollAgentProcess, type AgentProcess } from './support/edge-agent-process.js';
import { signInAs } from './support/identity-session.js';
import {
  createTenantSession,
  eventually,
  expectOk,
  type SiteRecord,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const MINUTE = 60_000;
const DEVICES = 40;

interface DeviceRow {
  id: string;
  siteId: string;
  mac: string | null;
  vendor: string | null;
  model: string | null;
  firmwareVersion: string | null;
}

interface JobRow {
  id: string;
  site_id: string;
  device_id: string;
  wave: number;
  state: string;
  attempt: number;
  planned_start: Date;
  window_start: Date;
  window_end: Date;
  result: { reason?: string; firmwareVersion?: string } | null;
}

interface Clinic {
  site: SiteRecord;
  agent: AgentProcess;
  /** The agent's simulation control file: devices in clinical use, forced faults. */
  control: string;
}

let cp: TestControlPlane;
let owner: pg.Client;
let session: TenantSession;
let workDir: string;
/** Both agents' clock offset file (libfaketime): the world is one time everywhere. */
let clockFile: string;
let newYork: Clinic;
let losAngeles: Clinic;
let devices: DeviceRow[] = [];

/** Wall-clock time in a zone, as `HH:MM` on `YYYY-MM-DD`. */
function localParts(instant: Date, timeZone: string): { date: string; time: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(instant)
      .map((part) => [part.type, part.value]),
  );
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    time: `${parts['hour']}:${parts['minute']}`,
  };
}

/** The first instant after `after` when the clock in `timeZone` reads `hh:mm` (searched minute by minute). */
function nextLocal(after: Date, timeZone: string, hhmm: string): Date {
  const start = Math.ceil(after.getTime() / MINUTE) * MINUTE;
  for (let at = start; at < start + 3 * 86_400_000; at += MINUTE) {
    if (localParts(new Date(at), timeZone).time === hhmm) return new Date(at);
  }
  throw new Error(`${hhmm} never comes in ${timeZone}`);
}

/** Moves the world to `instant`: the dispatcher's clock and the agents' (whose clocks then run on from there). */
function setWorld(instant: Date): void {
  cp.app.get(DispatchClock).set(instant);
  const offsetSec = Math.round((instant.getTime() - Date.now()) / 1000);
  writeFileSync(clockFile, `${offsetSec >= 0 ? '+' : ''}${offsetSec}\n`);
}

async function tickAt(instant: Date): Promise<string[]> {
  setWorld(instant);
  const result = await cp.app.get(PatchDispatcher).tick();
  return result.dispatched.map((entry) => entry.jobId);
}

/** Rewrites the agent's simulation control file and waits until the agent says it applied it. */
async function writeControl(clinic: Clinic, control: Record<string, unknown>): Promise<void> {
  const applied = () => clinic.agent.lines.filter((line) => line.msg === 'simulate control: applied').length;
  const before = applied();
  writeFileSync(clinic.control, JSON.stringify(control));
  await eventually(async () => applied() > before, 10_000);
}

async function jobsOf(campaignId: string): Promise<JobRow[]> {
  const rows = await owner.query(
    `SELECT id, site_id, device_id, wave, state::text AS state, attempt, planned_start, window_start, window_end,
            result
       FROM patch_jobs WHERE campaign_id = $1 ORDER BY planned_start, id`,
    [campaignId],
  );
  return rows.rows;
}

/** Waits until none of `ids` is dispatched or running any more, and answers their rows. */
async function settled(campaignId: string, ids: string[], timeoutMs = 90_000): Promise<JobRow[]> {
  return eventually(async () => {
    const rows = (await jobsOf(campaignId)).filter((job) => ids.includes(job.id));
    return rows.every((job) => !['dispatched', 'running'].includes(job.state)) && rows;
  }, timeoutMs);
}

async function startClinic(site: SiteRecord, seed: string): Promise<Clinic> {
  const control = path.join(workDir, `${seed}.control.json`);
  writeFileSync(control, '{}');
  const agent = await enrollAgentProcess(cp.grpcAddress, await session.createToken({ siteId: site.id }), {
    devices: DEVICES,
    seed,
    controlFile: control,
    clockFile,
  });
  await agent.start();
  return { site, agent, control };
}

async function configApplied(agentId: string): Promise<void> {
  await eventually(
    async () => (await expectOk(session.api.get(`/agents/${agentId}/config`))).state === 'applied',
    30_000,
  );
}

async function campaign(definition: Record<string, unknown>): Promise<string> {
  const created = await expectOk(
    session.api.post('/campaigns', {
      name: `Night work ${randomUUID().slice(0, 6)}`,
      tenantIds: [session.tenant.id],
      successRatePercent: 90,
      catchUp: { mode: 'next-window', maxRollovers: 3 },
      horizonDays: 3,
      ...definition,
    }),
  );
  const admin = (await signInAs(cp, 'practice_admin', { tenantId: session.tenant.id })).api;
  await expectOk(admin.post(`/campaigns/${created.id}/approve`, {}));
  await expectOk(session.api.post(`/campaigns/${created.id}/start`));
  return created.id as string;
}

/** Every agent event of a job happened inside the window it was dispatched for, by the site's clock. */
async function ranInsideWindows(jobIds: string[], timeZones: Map<string, string>): Promise<void> {
  const events = await owner.query(
    `SELECT e.job_id, e.state, e.occurred_at AS at, j.site_id FROM patch_job_events e JOIN patch_jobs j ON j.id = e.job_id
      WHERE e.job_id = ANY($1::uuid[]) AND e.source = 'agent' AND e.state IN ('running', 'succeeded', 'failed')`,
    [jobIds],
  );
  expect(events.rows.length).toBeGreaterThan(0);
  for (const event of events.rows) {
    const local = localParts(new Date(event.at), timeZones.get(event.site_id) as string).time;
    expect(local >= '22:00' || local < '05:00', `${event.state} at ${local} site time`).toBe(true);
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-nights-'));
  clockFile = path.join(workDir, 'clock');
  writeFileSync(clockFile, '+0\n');
  cp = await startTestControlPlane({ DISPATCH_INTERVAL_SEC: '0' });
  owner = await cp.owner();
  session = await createTenantSession(cp);
  const nySite = await session.createSite({ timeZone: 'America/New_York', county: 'Miami-Dade' });
  const laSite = await session.createSite({ timeZone: 'America/Los_Angeles', county: 'Los Angeles' });
  for (const site of [nySite, laSite]) {
    await expectOk(
      session.api.request('PUT', `/sites/${site.id}/maintenance-policy`, { maxConcurrentJobs: 20 }),
    );
  }
  newYork = await startClinic(nySite, 'nights-new-york');
  losAngeles = await startClinic(laSite, 'nights-los-angeles');
  for (const clinic of [newYork, losAngeles]) {
    await expectOk(
      session.api.request('PUT', `/agents/${clinic.agent.agentId}/config`, {
        inventoryIntervalSec: 5,
        healthIntervalSec: 10,
      }),
    );
  }
  devices = await eventually(async () => {
    const found: DeviceRow[] = [];
    for (const clinic of [newYork, losAngeles]) {
      const listed = await expectOk(session.api.get(`/devices?siteId=${clinic.site.id}&limit=200`));
      const items = (listed.items as DeviceRow[]).filter((item) => item.model && item.firmwareVersion);
      // The clinic's whole inventory is in.
      if (items.length < DEVICES) return false;
      found.push(...items.map((item) => ({ ...item, siteId: clinic.site.id })));
    }
    return found;
  }, 30_000);
}, 120_000);

afterAll(async () => {
  await newYork?.agent.remove();
  await losAngeles?.agent.remove();
  await owner?.end();
  await cp?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** The model of which both clinics have the most (the smaller of the two counts is what counts). */
function sharedModel(): { vendor: string; model: string; items: DeviceRow[] } {
  const byModel = new Map<string, DeviceRow[]>();
  for (const item of devices) {
    const key = `${item.vendor}\u0000${item.model}`;
    byModel.set(key, [...(byModel.get(key) ?? []), item]);
  }
  const atBoth = (items: DeviceRow[]) =>
    Math.min(
      items.filter((item) => item.siteId === newYork.site.id).length,
      items.filter((item) => item.siteId === losAngeles.site.id).length,
    );
  const shared = [...byModel.values()].sort((a, b) => atBoth(b) - atBoth(a))[0];
  if (!shared || atBoth(shared) === 0) throw new Error('the two simulated clinics share no model');
  const first = shared[0] as DeviceRow;
  return { vendor: first.vendor as string, model: first.model as string, items: shared };
}

/** A version above every one given: the highest with `.1` appended. */
function newerThan(versions: string[]): string {
  return `${[...versions].sort(compareVersions).at(-1)}.1`;
}

describe('a campaign over two nights in two time zones', () => {
  it('runs only inside each site’s window, canary first, the device in use the next night, the late agent caught up', async () => {
    const { vendor, model, items } = sharedModel();
    const nyDevices = items.filter((item) => item.siteId === newYork.site.id);
    const laDevices = items.filter((item) => item.siteId === losAngeles.site.id);
    expect(nyDevices.length, 'New York needs a canary, a device in use and one more').toBeGreaterThanOrEqual(
      3,
    );
    const canary = nyDevices.slice(0, 2);
    const inUse = nyDevices[2] as DeviceRow;
    const version = newerThan(items.map((item) => item.firmwareVersion as string));
    const zones = new Map([
      [newYork.site.id, 'America/New_York'],
      [losAngeles.site.id, 'America/Los_Angeles'],
    ]);

    // The evening before: the agents get the work-order key, nothing is due.
    const evening = nextLocal(new Date(), 'America/New_York', '21:30');
    expect(await tickAt(evening)).toEqual([]);
    await configApplied(newYork.agent.agentId);
    await configApplied(losAngeles.agent.agentId);

    const campaignId = await campaign({
      target: { vendor, models: [model], firmware: { max: version } },
      artifact: {
        version,
        sha256: 'd'.repeat(64),
        signature: Buffer.from('signed by the vendor').toString('base64'),
        sizeBytes: 2_097_152,
      },
      waves: [{ canaryDeviceIds: canary.map((item) => item.id), successRatePercent: 100 }, { percent: 100 }],
      abort: { failurePercent: 50, minExecuted: 10 },
      durations: { minutesByModel: { [model]: 5 }, marginMinutes: 0 },
      earliestStart: evening.toISOString(),
    });
    const planned = await jobsOf(campaignId);
    expect(planned).toHaveLength(items.length);
    expect(await tickAt(new Date(evening.getTime() + 20 * MINUTE))).toEqual([]);

    // 22:01 in New York (19:01 in Los Angeles): only New York's canary goes out.
    const nyOpen = nextLocal(evening, 'America/New_York', '22:00');
    const first = await tickAt(new Date(nyOpen.getTime() + MINUTE));
    const canaryJobs = planned.filter((job) => canary.some((item) => item.id === job.device_id));
    expect(new Set(first)).toEqual(new Set(canaryJobs.map((job) => job.id)));

    // While the canary runs, wave 2 is held even where its window is open.
    await writeControl(newYork, { inClinicalUse: [inUse.mac] });
    const wave2Ny = planned.filter((job) => job.wave > 0 && job.site_id === newYork.site.id);
    const due = new Date(Math.max(...wave2Ny.map((job) => job.planned_start.getTime())) + MINUTE);
    expect(
      localParts(due, 'America/New_York').time < '05:00' ||
        localParts(due, 'America/New_York').time >= '22:00',
    ).toBe(true);
    expect(await tickAt(due)).toEqual([]);
    const canaryDone = await settled(
      campaignId,
      canaryJobs.map((job) => job.id),
    );
    expect(canaryDone.map((job) => job.state)).toEqual(canaryDone.map(() => 'succeeded'));

    // The canary passed: New York's wave 2 goes out; Los Angeles' (19:xx there) still waits.
    const second = await tickAt(new Date(due.getTime() + MINUTE));
    expect(new Set(second)).toEqual(new Set(wave2Ny.map((job) => job.id)));
    const nyDone = await settled(campaignId, second);
    const inUseJob = nyDone.find((job) => job.device_id === inUse.id) as JobRow;
    expect(inUseJob.result?.reason).toBe('IN_CLINICAL_USE');
    expect(['deferred', 'planned']).toContain(inUseJob.state);
    for (const job of nyDone.filter((row) => row.id !== inUseJob.id)) {
      expect(job, job.id).toMatchObject({ state: 'succeeded', result: { firmwareVersion: version } });
    }
    expect(
      (await jobsOf(campaignId)).filter((job) => job.site_id === losAngeles.site.id).map((job) => job.state),
    ).toEqual(laDevices.map(() => 'planned'));

    // Los Angeles opens at 22:00 its time with its agent off; released then, the orders wait for it.
    await losAngeles.agent.stop();
    const laOpen = nextLocal(nyOpen, 'America/Los_Angeles', '22:00');
    const third = await tickAt(new Date(laOpen.getTime() + MINUTE));
    const laJobs = planned.filter((job) => job.site_id === losAngeles.site.id);
    expect(new Set(third)).toEqual(new Set(laJobs.map((job) => job.id)));
    setWorld(new Date(laOpen.getTime() + 20 * MINUTE));
    await losAngeles.agent.start();
    const laDone = await settled(
      campaignId,
      laJobs.map((job) => job.id),
    );
    for (const job of laDone) {
      expect(job, job.id).toMatchObject({ state: 'succeeded', result: { firmwareVersion: version } });
    }

    // After New York's window: the device in use has a job the next night; there, free again, it is updated.
    const nyClose = nextLocal(nyOpen, 'America/New_York', '05:00');
    await tickAt(new Date(nyClose.getTime() + MINUTE));
    const rolled = (await jobsOf(campaignId)).find((job) => job.id === inUseJob.id) as JobRow;
    expect(rolled.state).toBe('planned');
    const nextNight = nextLocal(nyClose, 'America/New_York', '22:00');
    expect(rolled.planned_start.getTime()).toBeGreaterThanOrEqual(nextNight.getTime());
    await writeControl(newYork, {});
    const fourth = await tickAt(new Date(rolled.planned_start.getTime() + MINUTE));
    expect(fourth).toEqual([rolled.id]);
    const [last] = await settled(campaignId, fourth);
    expect(last).toMatchObject({ state: 'succeeded', attempt: 2, result: { firmwareVersion: version } });

    await ranInsideWindows(
      planned.map((job) => job.id),
      zones,
    );
    const progress = await expectOk(session.api.get(`/campaigns/${campaignId}/progress`));
    expect(JSON.stringify(progress)).toContain('succeeded');
    const final = await jobsOf(campaignId);
    expect(final.map((job) => job.state)).toEqual(final.map(() => 'succeeded'));
    // Every job done: the next tick completes the campaign.
    const closing = await cp.app.get(PatchDispatcher).tick();
    expect(closing.campaigns).toEqual([{ campaignId, decision: 'complete' }]);
    expect((await expectOk(session.api.get(`/campaigns/${campaignId}`))).state).toBe('completed');
    // The devices themselves report the new firmware in the agents' inventories.
    await eventually(async () => {
      const listed = await expectOk(session.api.get(`/devices?limit=200`));
      const byId = new Map((listed.items as DeviceRow[]).map((item) => [item.id, item]));
      return items.every((item) => byId.get(item.id)?.firmwareVersion === version);
    }, 30_000);
  }, 420_000);

  it('pauses when failures pass the abort threshold, and releases nothing more', async () => {
    // Every install in Los Angeles fails: the device reboots into its old firmware.
    await writeControl(losAngeles, { failureRate: 1, fault: 'fallback' });
    await expectOk(
      session.api.request('PUT', `/sites/${losAngeles.site.id}/maintenance-policy`, { maxConcurrentJobs: 1 }),
    );
    const { vendor, model, items } = sharedModel();
    const laDevices = items.filter((item) => item.siteId === losAngeles.site.id);
    expect(laDevices.length, 'three devices: two fail, the third is held back').toBeGreaterThanOrEqual(3);
    const listed = await expectOk(session.api.get(`/devices?siteId=${losAngeles.site.id}&limit=200`));
    const current = (listed.items as DeviceRow[]).find((item) => item.id === laDevices[0]?.id) as DeviceRow;
    const version = `${current.firmwareVersion}.1`;
    const start = nextLocal(new Date(Date.now() + 2 * 86_400_000), 'America/Los_Angeles', '21:00');
    setWorld(start);
    const campaignId = await campaign({
      tenantIds: [session.tenant.id],
      siteIds: [losAngeles.site.id],
      target: { vendor, models: [model], firmware: { max: version } },
      artifact: {
        version,
        sha256: 'e'.repeat(64),
        signature: Buffer.from('signed by the vendor').toString('base64'),
        sizeBytes: 2_097_152,
      },
      waves: [{ percent: 100 }],
      abort: { failurePercent: 50, minExecuted: 2 },
      durations: { minutesByModel: { [model]: 5 }, marginMinutes: 0 },
      earliestStart: start.toISOString(),
    });
    const planned = await jobsOf(campaignId);
    expect(planned.length).toBe(laDevices.length);
    // One job at a time (the site's limit): each tick, the world moves to the next job's planned start.
    let at = new Date(0);
    const released: string[] = [];
    for (let round = 0; round < 2; round++) {
      const next = (await jobsOf(campaignId)).find((job) => job.state === 'planned') as JobRow;
      at = new Date(Math.max(at.getTime(), next.planned_start.getTime()) + MINUTE);
      const out = await tickAt(at);
      expect(out).toHaveLength(1);
      released.push(...out);
      const [job] = await settled(campaignId, out);
      expect(job).toMatchObject({ state: 'failed', result: { reason: 'FIRMWARE_NOT_UPDATED' } });
    }
    // Two executed, both failed (100 % ≥ 50 %): the campaign pauses; the next tick releases nothing.
    expect(await tickAt(new Date(at.getTime() + 10 * MINUTE))).toEqual([]);
    const paused = await expectOk(session.api.get(`/campaigns/${campaignId}`));
    expect(paused).toMatchObject({
      state: 'paused',
      pauseReason: { code: 'ABORT_THRESHOLD', executed: 2, failed: 2, failurePercent: 100 },
    });
    const rest = (await jobsOf(campaignId)).filter((job) => !released.includes(job.id));
    expect(rest.length).toBeGreaterThan(0);
    for (const job of rest) expect(job.state, job.id).toBe('planned');
    await writeControl(losAngeles, {});
  }, 240_000);
});
