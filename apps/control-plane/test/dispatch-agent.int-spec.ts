// A whole patch job with the real edge agent (its CLI process, simulated clinic): the site's window and the agent's
// policy copy are set around the present, so the agent's own clock finds the order inside its window; a campaign
// over the clinic's devices is approved and started, the dispatcher releases the job as a signed work order, the
// agent installs the firmware on the simulated device and reports progress, and the job ends `succeeded` with the
// firmware read back, which the agent's next inventory shows too.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchDispatcher } from '../src/modules/dispatch/patch-dispatch.job.js';
import { enrollAgentProcess, type AgentProcess } from './support/edge-agent-process.js';
import { signInAs } from './support/identity-session.js';
import { createTenantSession, eventually, expectOk, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

let cp: TestControlPlane;
let owner: pg.Client;
let session: TenantSession;
let agent: AgentProcess;

/** A window from an hour ago to three hours ahead on the site's clock (whole hours, as policies take them). */
function windowAroundNow(timeZone: string): { start: string; end: string } {
  const hour = Number(
    new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' }).format(new Date()),
  );
  const at = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
  return { start: at(hour - 1), end: at(hour + 3) };
}

interface DeviceRow {
  id: string;
  vendor: string | null;
  model: string | null;
  firmwareVersion: string | null;
}

beforeAll(async () => {
  cp = await startTestControlPlane({ DISPATCH_INTERVAL_SEC: '0' });
  owner = await cp.owner();
  session = await createTenantSession(cp);
  agent = await enrollAgentProcess(cp.grpcAddress, await session.createToken());
  await agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.remove();
  await owner?.end();
  await cp?.stop();
});

describe('a job run by the real agent', () => {
  it('is dispatched inside the window, run on the simulated device, and ends succeeded with the new firmware', async () => {
    const window = windowAroundNow(session.site.timeZone);
    await expectOk(session.api.request('PUT', `/sites/${session.site.id}/maintenance-policy`, { window }));
    // The agent's copy of the policy, and a short inventory interval so the new firmware shows soon.
    await expectOk(
      session.api.request('PUT', `/agents/${agent.agentId}/config`, {
        inventoryIntervalSec: 2,
        healthIntervalSec: 5,
        maintenance: { windows: [{ days: EVERY_DAY, ...window }] },
      }),
    );
    await eventually(
      async () => (await expectOk(session.api.get(`/agents/${agent.agentId}/config`))).state === 'applied',
      20_000,
    );
    const devices = await eventually(async () => {
      const listed = await expectOk(session.api.get(`/devices?siteId=${session.site.id}&limit=100`));
      const items = listed.items as DeviceRow[];
      return items.some((item) => item.vendor && item.model && item.firmwareVersion) && items;
    }, 20_000);
    const target = devices.find((item) => item.vendor && item.model && item.firmwareVersion) as DeviceRow;
    const newVersion = `${target.firmwareVersion}.1`;

    const admin = (await signInAs(cp, 'practice_admin', { tenantId: session.tenant.id })).api;
    const campaign = await expectOk(
      session.api.post('/campaigns', {
        name: `Simulated update ${randomUUID().slice(0, 6)}`,
        tenantIds: [session.tenant.id],
        target: {
          vendor: target.vendor,
          models: [target.model],
          firmware: { min: target.firmwareVersion, max: newVersion },
        },
        artifact: {
          version: newVersion,
          sha256: 'c'.repeat(64),
          signature: Buffer.from('signed by the vendor').toString('base64'),
          sizeBytes: 1_048_576,
        },
        waves: [{ percent: 100 }],
        successRatePercent: 90,
        abort: { failurePercent: 50, minExecuted: 10 },
        catchUp: { mode: 'same-window', maxRollovers: 3 },
        durations: { minutesByModel: { [target.model as string]: 10 }, marginMinutes: 0 },
        earliestStart: new Date().toISOString(),
        horizonDays: 2,
      }),
    );
    await expectOk(admin.post(`/campaigns/${campaign.id}/approve`, {}));
    await expectOk(session.api.post(`/campaigns/${campaign.id}/start`));
    const planned = await owner.query(
      `SELECT id, device_id, window_start FROM patch_jobs WHERE campaign_id = $1`,
      [campaign.id],
    );
    expect(planned.rows.length).toBeGreaterThan(0);
    const job = planned.rows.find((row) => row.device_id === target.id);
    expect(job, 'the target device has a job').toBeDefined();
    expect(job.window_start.getTime()).toBeLessThanOrEqual(Date.now());

    const tick = await cp.app.get(PatchDispatcher).tick();
    expect(tick.dispatched.map((entry) => entry.jobId)).toContain(job.id);

    const finished = await eventually(async () => {
      const rows = await owner.query(
        `SELECT state::text AS state, result FROM patch_jobs WHERE id = $1 AND state IN ('succeeded', 'failed', 'deferred')`,
        [job.id],
      );
      return rows.rows[0];
    }, 60_000);
    expect(finished).toMatchObject({ state: 'succeeded', result: { firmwareVersion: newVersion } });
    const history = await owner.query(
      `SELECT state FROM patch_job_events WHERE job_id = $1 AND source = 'agent' ORDER BY id`,
      [job.id],
    );
    const states = history.rows.map((row) => row.state);
    expect(states[0]).toBe('accepted');
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('succeeded');

    // The device itself reports the new firmware in the agent's next inventory.
    await eventually(async () => {
      const found = await expectOk(session.api.get(`/devices/${target.id}`));
      return found.firmwareVersion === newVersion;
    }, 30_000);
  }, 120_000);
});
