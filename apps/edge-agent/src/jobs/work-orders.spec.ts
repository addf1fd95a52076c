// Work orders end to end on the agent: signed orders over the real MQTT broker (Mosquitto on 127.0.0.1:1883, or
// TEST_MQTT_URL), the agent's own clock and policy, the simulated clinic's devices, progress on jobs/progress.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  defaultMaintenancePolicy,
  MESSAGE_TYPES,
  type InventoryEnvelope,
  type JobProgressBody,
  type SignedWorkOrder,
  type WorkOrder,
} from '@medfleet/contracts';
import type { SimulatedClinic, SimulatedDevice } from '@medfleet/simulator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent, type AgentOptions } from '../agent.js';
import type { AgentIdentity } from '../state.js';
import {
  closeControlPlanes,
  controlPlane,
  makeWorkOrder,
  workOrderSigner,
  type ControlPlane,
} from '../testing/control-plane.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs } from '../testing/fixtures.js';
import { JOBS_FILE } from './job-files.js';

const dirs: string[] = [];
const agents: Agent[] = [];
const planes: ControlPlane[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await Promise.all(planes.splice(0).map((cp) => cp.clearConfig()));
  await closeControlPlanes();
  await removeDirs(dirs);
});

const waitLong = { timeout: 15_000, interval: 50 };
const HOUR = 3600_000;
/** 23:00 in New York on 3 November 2026: inside the default 22:00–05:00 window. */
const NIGHT = Date.parse('2026-11-04T04:00:00Z');
/** 16:00 in New York that day: clinic hours. */
const AFTERNOON = Date.parse('2026-11-03T21:00:00Z');
/** The night's window in UTC: 22:00 EST to 05:00 EST. */
const WINDOW = { start: Date.parse('2026-11-04T03:00:00Z'), end: Date.parse('2026-11-04T10:00:00Z') };

/** The agent's job clock: real time passing, shifted to start at `at`. */
const clockAt = (at: number) => {
  const offset = at - Date.now();
  return () => Date.now() + offset;
};

interface Setup {
  identity: AgentIdentity;
  dir: string;
  cp: ControlPlane;
  signer: ReturnType<typeof workOrderSigner>;
}

async function setup(): Promise<Setup> {
  const identity = makeIdentity();
  const dir = await makeTempDir();
  dirs.push(dir);
  const cp = await controlPlane(identity);
  planes.push(cp);
  return { identity, dir, cp, signer: workOrderSigner() };
}

async function startAgent(
  { identity, dir, cp, signer }: Setup,
  now: () => number,
  options: Partial<AgentOptions> = {},
) {
  const { logger, lines } = captureLogger(identity.agentId);
  const agent = new Agent({
    identity,
    stateDir: dir,
    logger,
    simulate: { seed: 'clinic-with-jobs', deviceCount: 10 },
    resendIntervalMs: 60_000,
    flushTimeoutMs: 200,
    jobs: { now },
    mqtt: { reconnectMinMs: 100, reconnectMaxMs: 400, sessionExpirySec: 10 },
    ...options,
  });
  agents.push(agent);
  await agent.start();
  if (agent.status().configVersion === 0) {
    await cp.sendConfig({
      version: 1,
      inventoryIntervalSec: 3600,
      healthIntervalSec: 3600,
      collectors: { inventory: { enabled: true } },
      maintenance: defaultMaintenancePolicy('America/New_York'),
      workOrderKeys: [signer.trusted],
    });
    await vi.waitFor(() => expect(agent.status().configVersion).toBe(1), waitLong);
  }
  const clinic = agent.clinic as SimulatedClinic;
  clinic.setFirmwareTiming({ applyMs: 300, rebootMs: 150 });
  return { agent, lines, clinic };
}

const pumpOf = (clinic: SimulatedClinic): SimulatedDevice => {
  const pump = clinic.devices.find((device) => device.category === 'infusion_pump');
  if (!pump) throw new Error('the simulated clinic has no infusion pump');
  return pump;
};

const orderFor = (s: Setup, device: SimulatedDevice, patch: Partial<WorkOrder> = {}): SignedWorkOrder =>
  s.signer.sign(makeWorkOrder(s.identity.agentId, WINDOW, { device: { mac: device.mac }, ...patch }));

const states = (cp: ControlPlane, jobId: string) => cp.jobProgress(jobId).map((body) => body.state);
const last = (cp: ControlPlane, jobId: string): JobProgressBody | undefined => cp.jobProgress(jobId).at(-1);

async function finalOf(cp: ControlPlane, jobId: string): Promise<JobProgressBody> {
  await vi.waitFor(
    () =>
      expect(['refused', 'deferred', 'succeeded', 'failed', 'waiting_manual']).toContain(
        last(cp, jobId)?.state,
      ),
    waitLong,
  );
  return last(cp, jobId) as JobProgressBody;
}

describe('work orders on the agent', () => {
  it('runs a valid order inside the window: pre-check, apply, verify; the new firmware is read back and inventoried', async () => {
    const s = await setup();
    const { agent, clinic } = await startAgent(s, clockAt(NIGHT));
    const pump = pumpOf(clinic);
    const order = orderFor(s, pump);
    await s.cp.sendWorkOrder(order, 7);

    const final = await finalOf(s.cp, order.jobId);
    expect(final).toMatchObject({
      state: 'succeeded',
      firmwareVersion: '99.1.0',
      jobId: order.jobId,
      campaignId: order.campaignId,
      attempt: 1,
    });
    const progress = s.cp.jobProgress(order.jobId);
    expect(progress[0]).toMatchObject({ state: 'accepted', adapter: 'simulator' });
    const steps = progress.flatMap((body) =>
      body.state === 'running' ? [`${body.step}:${body.percent}`] : [],
    );
    expect(steps[0]).toBe('precheck:0');
    expect(steps).toContain('apply:0');
    expect(steps).toContain('apply:100');
    expect(steps.at(-1)).toBe('verify:0');
    // Reported by the agent's clock, which says it is night in New York.
    expect(Date.parse(final.at)).toBeGreaterThan(NIGHT);
    expect(Date.parse(final.at)).toBeLessThan(NIGHT + HOUR);
    expect(clinic.readFirmware(pump.mac)).toBe('99.1.0');
    expect(s.cp.invalid).toEqual([]);

    const seq = await agent.publishInventory();
    await vi.waitFor(() => expect(s.cp.seqs()).toContain(seq), waitLong);
    const inventory = s.cp.received.find((message) => message.envelope.seq === seq)
      ?.envelope as InventoryEnvelope;
    expect(inventory.body.devices.find((device) => device.mac === pump.mac)?.firmwareVersion).toBe('99.1.0');
    // Progress goes through the outbox like every report: rising seqs on jobs/progress.
    const topics = s.cp.received
      .filter((message) => message.envelope.type === MESSAGE_TYPES.jobProgress)
      .map((message) => message.topic);
    expect(new Set(topics).size).toBe(1);
    expect(topics[0]).toMatch(/\/jobs\/progress$/);
    expect(await agent.runningJobs()).toEqual([]);
  });

  it('refuses a bad signature, an unknown key, an order outside its window or expired, an unknown device', async () => {
    const s = await setup();
    const { clinic } = await startAgent(s, clockAt(NIGHT));
    const pump = pumpOf(clinic);
    const before = pump.firmwareVersion;

    const tampered = { ...orderFor(s, pump), deadline: new Date(WINDOW.end - 1000).toISOString() };
    const stranger = workOrderSigner('cp-someone-else');
    const unknownKey = stranger.sign(
      makeWorkOrder(s.identity.agentId, WINDOW, { device: { mac: pump.mac } }),
    );
    const tomorrow = orderFor(s, pump, {
      window: makeWorkOrder(s.identity.agentId, {
        start: WINDOW.start + 24 * HOUR,
        end: WINDOW.end + 24 * HOUR,
      }).window,
      deadline: new Date(WINDOW.end + 24 * HOUR).toISOString(),
    });
    const expired = orderFor(s, pump, { deadline: new Date(NIGHT - 60_000).toISOString() });
    const unknownDevice = orderFor(s, pump, { device: { mac: '02:00:00:00:00:01' } });
    const forAnother = s.signer.sign(
      makeWorkOrder('00000000-0000-4000-8000-000000000001', WINDOW, { device: { mac: pump.mac } }),
    );
    const cases: [SignedWorkOrder, string][] = [
      [tampered, 'BAD_SIGNATURE'],
      [unknownKey, 'UNKNOWN_KEY'],
      [tomorrow, 'OUTSIDE_WINDOW'],
      [expired, 'EXPIRED'],
      [unknownDevice, 'DEVICE_UNKNOWN'],
      [forAnother, 'WRONG_AGENT'],
    ];
    for (const [order, reason] of cases) {
      await s.cp.sendWorkOrder(order);
      const final = await finalOf(s.cp, order.jobId);
      expect({ reason, final }).toMatchObject({ reason, final: { state: 'refused', reason } });
      expect(states(s.cp, order.jobId)).toEqual(['refused']);
    }
    expect(clinic.readFirmware(pump.mac)).toBe(before);
    expect(s.cp.invalid).toEqual([]);
  });

  it("refuses an order its window allows when the agent's own clock and policy say it is clinic hours", async () => {
    const s = await setup();
    const { clinic } = await startAgent(s, clockAt(AFTERNOON));
    const pump = pumpOf(clinic);
    // A control plane with a wrong clock or policy placed it now: the order's own window covers the afternoon.
    const order = s.signer.sign(
      makeWorkOrder(
        s.identity.agentId,
        { start: AFTERNOON - HOUR, end: AFTERNOON + HOUR },
        { device: { mac: pump.mac } },
      ),
    );
    await s.cp.sendWorkOrder(order);
    const final = await finalOf(s.cp, order.jobId);
    expect(final).toMatchObject({ state: 'refused', reason: 'OUTSIDE_WINDOW' });
    expect(final.state === 'refused' && final.detail).toContain("by this agent's policy");
    expect(final.state === 'refused' && final.detail).toContain('T16:');
  });

  it('judges a refused order again when it comes back: once the clock is inside the window, it runs', async () => {
    const s = await setup();
    let jobClock = clockAt(AFTERNOON);
    const { clinic } = await startAgent(s, () => jobClock());
    const pump = pumpOf(clinic);
    const order = orderFor(s, pump);
    await s.cp.sendWorkOrder(order, 1);
    expect(await finalOf(s.cp, order.jobId)).toMatchObject({ state: 'refused', reason: 'OUTSIDE_WINDOW' });

    jobClock = clockAt(NIGHT);
    await s.cp.sendWorkOrder(order, 2);
    await vi.waitFor(() => expect(last(s.cp, order.jobId)?.state).toBe('succeeded'), waitLong);
    expect(states(s.cp, order.jobId)[0]).toBe('refused');
    expect(states(s.cp, order.jobId)[1]).toBe('accepted');
  });

  it('defers a device in clinical use; fails with FIRMWARE_NOT_UPDATED when the device falls back to its old firmware', async () => {
    const s = await setup();
    const { clinic } = await startAgent(s, clockAt(NIGHT));
    const pump = pumpOf(clinic);

    clinic.setInClinicalUse(pump.mac, true);
    const inUse = orderFor(s, pump);
    await s.cp.sendWorkOrder(inUse);
    expect(await finalOf(s.cp, inUse.jobId)).toMatchObject({
      state: 'deferred',
      reason: 'IN_CLINICAL_USE',
      step: 'precheck',
    });
    expect(states(s.cp, inUse.jobId)).toEqual(['accepted', 'running', 'deferred']);

    // The control plane re-issues the deferred job as attempt 2, once the pump is free.
    clinic.setInClinicalUse(pump.mac, false);
    clinic.failNextInstall(pump.mac, 'fallback');
    const retry = s.signer.sign({ ...withoutSignature(inUse), attempt: 2 });
    await s.cp.sendWorkOrder(retry);
    await vi.waitFor(() => expect(states(s.cp, inUse.jobId)).toContain('failed'), waitLong);
    expect(last(s.cp, inUse.jobId)).toMatchObject({
      state: 'failed',
      attempt: 2,
      reason: 'FIRMWARE_NOT_UPDATED',
      step: 'verify',
      firmwareVersion: pump.firmwareVersion,
    });
    expect(clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
  });

  it('stops a job at its deadline during apply: deferred WINDOW_ENDED, old firmware kept, nothing left running', async () => {
    const s = await setup();
    const now = clockAt(NIGHT);
    const { agent, clinic } = await startAgent(s, now);
    clinic.setFirmwareTiming({ applyMs: 20_000 });
    const pump = pumpOf(clinic);
    const order = orderFor(s, pump, { deadline: new Date(now() + 1_500).toISOString() });
    await s.cp.sendWorkOrder(order);
    await vi.waitFor(
      () => expect(s.cp.jobProgress(order.jobId)).toContainEqual(expect.objectContaining({ step: 'apply' })),
      waitLong,
    );
    expect(await agent.runningJobs()).toEqual([order.jobId]);
    expect(await finalOf(s.cp, order.jobId)).toMatchObject({
      state: 'deferred',
      reason: 'WINDOW_ENDED',
      step: 'apply',
    });
    expect(await agent.runningJobs()).toEqual([]);
    expect(clinic.device(pump.mac)).toMatchObject({ online: true, rebooting: false });
    expect(clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
    // Nothing more about it afterwards.
    const count = s.cp.jobProgress(order.jobId).length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(s.cp.jobProgress(order.jobId)).toHaveLength(count);
  });

  it('runs a duplicate order once, also after a restart; the job record is in the state directory', async () => {
    const s = await setup();
    const now = clockAt(NIGHT);
    const first = await startAgent(s, now);
    const pump = pumpOf(first.clinic);
    const order = orderFor(s, pump);
    await s.cp.sendWorkOrder(order, 1);
    await s.cp.sendWorkOrder(order, 2);
    expect(await finalOf(s.cp, order.jobId)).toMatchObject({ state: 'succeeded' });
    await vi.waitFor(
      () =>
        expect(first.lines.map((line) => line.msg)).toContain(
          'duplicate work order ignored: this attempt was handled already',
        ),
      waitLong,
    );
    expect(states(s.cp, order.jobId).filter((state) => state === 'accepted')).toHaveLength(1);
    const count = s.cp.jobProgress(order.jobId).length;
    await first.agent.stop();
    const records = JSON.parse(await fs.readFile(path.join(s.dir, JOBS_FILE), 'utf8')) as {
      jobs: { jobId: string; state: string }[];
    };
    expect(records.jobs).toContainEqual(expect.objectContaining({ jobId: order.jobId, state: 'succeeded' }));

    // A new process: its simulated clinic starts from the seed again, so a second run would show.
    const second = await startAgent(s, now);
    expect(second.agent.status().configVersion).toBe(1);
    await s.cp.sendWorkOrder(order, 3);
    await vi.waitFor(
      () =>
        expect(second.lines.map((line) => line.msg)).toContain(
          'duplicate work order ignored: this attempt was handled already',
        ),
      waitLong,
    );
    expect(s.cp.jobProgress(order.jobId)).toHaveLength(count);
    expect(second.clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
    // An older attempt is superseded; a succeeded job is not run again under a new attempt.
    const again = s.signer.sign({ ...withoutSignature(order), attempt: 2 });
    await s.cp.sendWorkOrder(again, 4);
    await vi.waitFor(
      () => expect(last(s.cp, order.jobId)).toMatchObject({ state: 'refused', reason: 'ALREADY_SUCCEEDED' }),
      waitLong,
    );
  });

  it('a stop during a job reports it deferred (AGENT_INTERRUPTED); a crash mid-job is reported at the next start', async () => {
    const s = await setup();
    const now = clockAt(NIGHT);
    const first = await startAgent(s, now);
    first.clinic.setFirmwareTiming({ applyMs: 20_000 });
    const pump = pumpOf(first.clinic);
    const order = orderFor(s, pump);
    await s.cp.sendWorkOrder(order);
    await vi.waitFor(async () => expect(await first.agent.runningJobs()).toEqual([order.jobId]), waitLong);
    await first.agent.stop();
    await vi.waitFor(
      () =>
        expect(last(s.cp, order.jobId)).toMatchObject({
          state: 'deferred',
          reason: 'AGENT_INTERRUPTED',
          step: 'apply',
        }),
      waitLong,
    );

    // As if the process died during a verify: the record still says running.
    const crashed = { jobId: randomUUID() };
    const file = path.join(s.dir, JOBS_FILE);
    const records = JSON.parse(await fs.readFile(file, 'utf8')) as { jobs: Record<string, unknown>[] };
    records.jobs.push({
      jobId: crashed.jobId,
      campaignId: order.campaignId,
      attempt: 1,
      state: 'running',
      step: 'verify',
      updatedAt: now(),
      deadline: order.deadline,
    });
    await fs.writeFile(file, JSON.stringify(records));
    await startAgent(s, now);
    await vi.waitFor(
      () =>
        expect(last(s.cp, crashed.jobId)).toMatchObject({
          state: 'deferred',
          reason: 'AGENT_INTERRUPTED',
          step: 'verify',
        }),
      waitLong,
    );
  });

  it('turns a manual procedure into a checklist that waits for a technician', async () => {
    const s = await setup();
    const { clinic } = await startAgent(s, clockAt(NIGHT));
    const pump = pumpOf(clinic);
    const order = orderFor(s, pump, {
      action: {
        kind: 'manual_procedure',
        title: 'Replace the battery pack',
        steps: ['Take the pump out of service', 'Swap the battery pack', 'Run the self-test'],
      },
    });
    await s.cp.sendWorkOrder(order);
    expect(await finalOf(s.cp, order.jobId)).toMatchObject({
      state: 'waiting_manual',
      title: 'Replace the battery pack',
      checklist: ['Take the pump out of service', 'Swap the battery pack', 'Run the self-test'],
    });
    expect(s.cp.jobProgress(order.jobId)[0]).toMatchObject({ state: 'accepted', adapter: 'manual' });
  });
});

function withoutSignature(order: SignedWorkOrder): WorkOrder {
  const { signature: _signature, ...rest } = order;
  return rest;
}
