// The simulate-control file on a real simulated clinic: parsing, applying, the install hook, the file watcher, and
// `medfleet-agent run --simulate-control` end to end over the real MQTT broker (127.0.0.1:1883, or TEST_MQTT_URL).
import fs from 'node:fs/promises';
import path from 'node:path';
import { MESSAGE_TYPES, type JobProgressBody, type SignedWorkOrder } from '@medfleet/contracts';
import { createClinic, type SimulatedClinic, type SimulatedDevice } from '@medfleet/simulator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT_OK, EXIT_USAGE, runCli, USAGE } from './cli.js';
import { AdapterError, type AdapterJob, type DeviceAdapter } from './jobs/device-adapter.js';
import { simulatorAdapter } from './jobs/simulator.adapter.js';
import { parseSimulateControl, SimulateControlWatcher } from './simulate-control.js';
import { saveIdentity } from './state.js';
import {
  closeControlPlanes,
  controlPlane,
  makeWorkOrder,
  workOrderSigner,
  type ControlPlane,
} from './testing/control-plane.js';
import { captureIo, captureLogger, makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';

const dirs: string[] = [];
const watchers: SimulateControlWatcher[] = [];
const planes: ControlPlane[] = [];

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.stop()));
  await Promise.all(planes.splice(0).map((cp) => cp.clearConfig()));
  await closeControlPlanes();
  await removeDirs(dirs);
});

const HOUR = 3600_000;
const NEW_VERSION = '99.1.0';
const waitShort = { timeout: 3_000, interval: 10 };
const signer = workOrderSigner();

/** An order's window, from an hour ago to an hour from now, in whole seconds as the contract wants. */
function windowAroundNow(): { start: number; end: number } {
  const now = Math.floor(Date.now() / 1000) * 1000;
  return { start: now - HOUR, end: now + HOUR };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function controlFileIn(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return path.join(dir, 'control.json');
}

/** Replaces the file the way a careful writer does: a temporary file renamed over it. */
async function writeControl(file: string, content: unknown): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, typeof content === 'string' ? content : JSON.stringify(content));
  await fs.rename(temporary, file);
}

function clinicForTest(): SimulatedClinic {
  return createClinic({
    seed: 'simulate-control',
    deviceCount: 6,
    firmwareTiming: { applyMs: 10, rebootMs: 10 },
  });
}

const deviceAt = (clinic: SimulatedClinic, index: number): SimulatedDevice => {
  const device = clinic.devices[index];
  if (!device) throw new Error(`the clinic has no device ${index}`);
  return device;
};

const inUse = (clinic: SimulatedClinic) =>
  clinic.devices.filter((device) => device.inClinicalUse).map((device) => device.mac);

async function startWatcher(file: string, clinic: SimulatedClinic, random?: () => number) {
  const { logger, lines } = captureLogger();
  const watcher = new SimulateControlWatcher({ file, logger, pollMs: 20, ...(random ? { random } : {}) });
  watchers.push(watcher);
  await watcher.start(clinic);
  /** Resolves once the watcher applied one more version of the file than it had when called. */
  const nextApplied = () => {
    const applied = () => lines.filter((line) => line.msg === 'simulate control: applied').length;
    const before = applied();
    return vi.waitFor(() => expect(applied()).toBe(before + 1), waitShort);
  };
  const adapter = simulatorAdapter(clinic, {
    installFault: watcher.installFault,
    verifyTimeoutMs: 200,
    verifyPollMs: 10,
  });
  return { watcher, lines, adapter, nextApplied };
}

/**
 * Installs firmware through the simulator adapter as a job does (apply, then verify): the version read back
 * (the new one, or the old one after a fallback), or the adapter's error code.
 */
async function install(adapter: DeviceAdapter, device: SimulatedDevice, version = NEW_VERSION) {
  const order = signer.sign(
    makeWorkOrder('agent-under-test', windowAroundNow(), {
      device: { mac: device.mac },
      action: {
        kind: 'firmware_update',
        artifact: { version, sha256: 'ab'.repeat(32), sizeBytes: 1024, download: '/artifact' },
      },
    }),
  );
  const job: AdapterJob = { order, signal: new AbortController().signal, progress: () => undefined };
  try {
    await adapter.apply(job);
    return (await adapter.verify(job)).firmwareVersion;
  } catch (error) {
    if (error instanceof AdapterError) return error.code;
    throw error;
  }
}

describe('parsing a simulate-control file', () => {
  it('accepts the full format, lower-casing MACs, and fills in what is left out', () => {
    expect(
      parseSimulateControl(
        JSON.stringify({
          inClinicalUse: ['AA:BB:CC:DD:EE:01', 'aa:bb:cc:dd:ee:02'],
          faults: { 'AA:BB:CC:DD:EE:03': 'apply_error', 'aa:bb:cc:dd:ee:04': 'no_return' },
          failureRate: 0.25,
          fault: 'apply_error',
        }),
      ),
    ).toEqual({
      ok: true,
      control: {
        inClinicalUse: ['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02'],
        faults: { 'aa:bb:cc:dd:ee:03': 'apply_error', 'aa:bb:cc:dd:ee:04': 'no_return' },
        failureRate: 0.25,
        fault: 'apply_error',
      },
    });
    expect(parseSimulateControl('{}')).toEqual({
      ok: true,
      control: { inClinicalUse: [], faults: {}, failureRate: 0, fault: 'fallback' },
    });
  });

  it.each([
    ['{"inClinicalUse": [', /^not JSON: /],
    ['', /^not JSON: /],
    ['[]', /expected object/],
    ['{"inClinicalUse": ["aa:bb:cc:dd:ee"]}', /^inClinicalUse\.0: "aa:bb:cc:dd:ee" is not a MAC address/],
    ['{"inClinicalUse": "aa:bb:cc:dd:ee:ff"}', /^inClinicalUse: .*expected array/],
    [
      '{"faults": {"aa-bb-cc-dd-ee-ff": "fallback"}}',
      /^faults\.aa-bb-cc-dd-ee-ff: "aa-bb-cc-dd-ee-ff" is not a MAC/,
    ],
    [
      '{"faults": {"aa:bb:cc:dd:ee:ff": "explode"}}',
      /^faults\.aa:bb:cc:dd:ee:ff: "explode" is not a fault: use "fallback", "apply_error", "no_return"$/,
    ],
    ['{"fault": "slow"}', /^fault: "slow" is not a fault/],
    ['{"failureRate": 1.5}', /^failureRate: must be from 0 to 1$/],
    ['{"failureRate": -0.1}', /^failureRate: must be from 0 to 1$/],
    ['{"failureRate": "0.5"}', /^failureRate: must be a number from 0 to 1$/],
    ['{"failurerate": 0.5}', /Unrecognized key: "failurerate"/],
  ])('refuses %s with a message saying what is wrong', (text, problem) => {
    const parsed = parseSimulateControl(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.problem).toMatch(problem);
  });
});

describe('applying the control to a simulated clinic', () => {
  it('puts the listed devices in clinical use and takes a device off the list back out of it', async () => {
    const clinic = clinicForTest();
    const [a, b, c] = [deviceAt(clinic, 0), deviceAt(clinic, 1), deviceAt(clinic, 2)];
    const file = await controlFileIn();
    await writeControl(file, { inClinicalUse: [a.mac, b.mac.toUpperCase()] });
    const { adapter } = await startWatcher(file, clinic);
    // Applied at start, before the first poll.
    expect(inUse(clinic)).toEqual([a.mac, b.mac]);
    expect(await install(adapter, a)).toBe('IN_CLINICAL_USE');
    expect(clinic.readFirmware(a.mac)).toBe(a.firmwareVersion);

    await writeControl(file, { inClinicalUse: [c.mac] });
    await vi.waitFor(() => expect(inUse(clinic)).toEqual([c.mac]), waitShort);
    expect(await install(adapter, a)).toBe(NEW_VERSION);

    await writeControl(file, {});
    await vi.waitFor(() => expect(inUse(clinic)).toEqual([]), waitShort);
  });

  it('arms each fault once per content: the install really falls back, fails writing, or never returns', async () => {
    const clinic = clinicForTest();
    const [a, b, c] = [deviceAt(clinic, 0), deviceAt(clinic, 1), deviceAt(clinic, 2)];
    const file = await controlFileIn();
    await writeControl(file, {
      faults: { [a.mac]: 'fallback', [b.mac]: 'apply_error', [c.mac]: 'no_return' },
    });
    const { adapter, lines, nextApplied } = await startWatcher(file, clinic);

    expect(await install(adapter, a)).toBe(a.firmwareVersion);
    expect(await install(adapter, b)).toBe('APPLY_FAILED');
    expect(await install(adapter, c)).toBe('DEVICE_UNREACHABLE_AFTER_APPLY');
    expect(clinic.device(c.mac)?.rebooting).toBe(true);
    // Polled many times since, and written again with the same content: not armed again.
    await sleep(100);
    await writeControl(file, {
      faults: { [a.mac]: 'fallback', [b.mac]: 'apply_error', [c.mac]: 'no_return' },
    });
    await vi.waitFor(
      () =>
        expect(lines.map((line) => line.msg)).toContain(
          'simulate control: written again, same content: nothing to apply',
        ),
      waitShort,
    );
    expect(await install(adapter, a)).toBe(NEW_VERSION);
    expect(await install(adapter, b)).toBe(NEW_VERSION);

    // New content arms the faults it lists again.
    const applied = nextApplied();
    await writeControl(file, { faults: { [a.mac]: 'fallback' }, inClinicalUse: [] });
    await applied;
    expect(await install(adapter, a, '99.2.0')).toBe(NEW_VERSION);
    expect(await install(adapter, a, '99.2.0')).toBe('99.2.0');
  });

  it('failureRate 1 fails every install with its fault, failureRate 0 none', async () => {
    const clinic = clinicForTest();
    const file = await controlFileIn();
    await writeControl(file, { failureRate: 1 });
    const { adapter, lines, nextApplied } = await startWatcher(file, clinic);
    for (const device of clinic.devices) {
      expect(await install(adapter, device)).toBe(device.firmwareVersion);
    }
    expect(lines.filter((line) => line.msg === 'simulate control: this install will fail')).toHaveLength(
      clinic.devices.length,
    );

    let applied = nextApplied();
    await writeControl(file, { failureRate: 1, fault: 'apply_error' });
    await applied;
    for (const device of clinic.devices) expect(await install(adapter, device)).toBe('APPLY_FAILED');

    applied = nextApplied();
    await writeControl(file, { failureRate: 0 });
    await applied;
    for (const device of clinic.devices) expect(await install(adapter, device)).toBe(NEW_VERSION);
  });

  it('fails an install when the draw is below failureRate', async () => {
    const clinic = clinicForTest();
    const [a, b, c] = [deviceAt(clinic, 0), deviceAt(clinic, 1), deviceAt(clinic, 2)];
    const file = await controlFileIn();
    await writeControl(file, { failureRate: 0.5 });
    const draws = [0.49, 0.5, 0.9];
    const { adapter } = await startWatcher(file, clinic, () => draws.shift() ?? 0);
    expect(await install(adapter, a)).toBe(a.firmwareVersion);
    expect(await install(adapter, b)).toBe(NEW_VERSION);
    expect(await install(adapter, c)).toBe(NEW_VERSION);
    expect(draws).toEqual([]);
  });

  it('a fault from the file goes first, the rate does not replace it; a refused install arms nothing', async () => {
    const clinic = clinicForTest();
    const [a, b] = [deviceAt(clinic, 0), deviceAt(clinic, 1)];
    const file = await controlFileIn();
    await writeControl(file, { faults: { [a.mac]: 'apply_error' }, failureRate: 1, inClinicalUse: [b.mac] });
    const { adapter, watcher } = await startWatcher(file, clinic);
    expect(await install(adapter, a)).toBe('APPLY_FAILED');
    expect(await install(adapter, a)).toBe(a.firmwareVersion);

    expect(watcher.installFault(b.mac)).toBeUndefined();
    expect(await install(adapter, b)).toBe('IN_CLINICAL_USE');
    await writeControl(file, {});
    await vi.waitFor(() => expect(inUse(clinic)).toEqual([]), waitShort);
    expect(await install(adapter, b)).toBe(NEW_VERSION);
  });
});

describe('watching the control file', () => {
  it('waits for a file that does not exist yet, then applies it', async () => {
    const clinic = clinicForTest();
    const a = deviceAt(clinic, 0);
    const file = await controlFileIn();
    const { lines } = await startWatcher(file, clinic);
    expect(lines.map((line) => line.msg)).toContain('simulate control: no file yet');
    expect(inUse(clinic)).toEqual([]);
    await writeControl(file, { inClinicalUse: [a.mac] });
    await vi.waitFor(() => expect(inUse(clinic)).toEqual([a.mac]), waitShort);
  });

  it('keeps the last good control through a half-written, an invalid and a removed file', async () => {
    const clinic = clinicForTest();
    const [a, b] = [deviceAt(clinic, 0), deviceAt(clinic, 1)];
    const file = await controlFileIn();
    await writeControl(file, { inClinicalUse: [a.mac] });
    const { lines } = await startWatcher(file, clinic);
    const warnings = () =>
      lines.filter((line) => line.level === 40).map((line) => ({ msg: line.msg, problem: line['problem'] }));

    // Written in place, caught halfway.
    await fs.writeFile(file, `{"inClinicalUse": ["${b.mac}"`);
    await vi.waitFor(() => expect(warnings()).toHaveLength(1), waitShort);
    expect(warnings()[0]).toEqual({
      msg: 'simulate control: invalid file (or half written); keeping the last good control',
      problem: expect.stringMatching(/^not JSON: /) as unknown,
    });
    await fs.writeFile(file, JSON.stringify({ inClinicalUse: [a.mac], failureRate: 2 }));
    await vi.waitFor(() => expect(warnings()).toHaveLength(2), waitShort);
    // A device this clinic does not have: nothing of the file applies.
    await writeControl(file, { inClinicalUse: [b.mac, '02:00:00:00:00:01'] });
    await vi.waitFor(() => expect(warnings()).toHaveLength(3), waitShort);
    expect(warnings()[2]?.problem).toBe('no device with MAC 02:00:00:00:00:01 in the simulated clinic');
    await sleep(100);
    // Each bad version is reported once, not at every poll.
    expect(warnings()).toHaveLength(3);
    expect(inUse(clinic)).toEqual([a.mac]);

    await fs.rm(file);
    await vi.waitFor(
      () =>
        expect(lines.map((line) => line.msg)).toContain(
          'simulate control: the file is gone; keeping the last control',
        ),
      waitShort,
    );
    expect(inUse(clinic)).toEqual([a.mac]);

    await writeControl(file, { inClinicalUse: [b.mac] });
    await vi.waitFor(() => expect(inUse(clinic)).toEqual([b.mac]), waitShort);
  });

  it('stops polling when stopped', async () => {
    const clinic = clinicForTest();
    const a = deviceAt(clinic, 0);
    const file = await controlFileIn();
    const { watcher } = await startWatcher(file, clinic);
    await watcher.stop();
    await writeControl(file, { inClinicalUse: [a.mac] });
    await sleep(150);
    expect(inUse(clinic)).toEqual([]);
  });
});

describe('medfleet-agent run --simulate-control', () => {
  it('is in the help', () => {
    expect(USAGE).toContain('--simulate-control <file>');
    expect(USAGE).toContain('MEDFLEET_SIMULATE_CONTROL');
  });

  it.each([
    [
      ['run', '--simulate-control', '/tmp/control.json'],
      {},
      /--simulate-control .*needs the simulated clinic: give --devices <n> too/,
    ],
    [['run'], { MEDFLEET_SIMULATE_CONTROL: '/tmp/control.json' }, /needs the simulated clinic/],
    [['run', '--devices', '3', '--simulate-control', ' '], {}, /--simulate-control must not be empty/],
    [['run', '--devices', '3', '--simulate-control'], {}, /--simulate-control/],
  ])('refuses %j (env %j) with a usage error', async (argv, env, message) => {
    const { io, output } = captureIo({ MEDFLEET_STATE_DIR: '/nonexistent/medfleet', ...env });
    expect(await runCli(argv, io)).toBe(EXIT_USAGE);
    expect(output.err).toMatch(message);
    expect(output.err).toContain('Run "medfleet-agent --help" for usage.');
    expect(output.out).toBe('');
  });

  it('steers the running agent: a device in use defers its job, failureRate 1 fails one, then both succeed', async () => {
    const stateDir = await makeTempDir();
    dirs.push(stateDir);
    const identity = makeIdentity({ siteTimeZone: 'UTC' });
    await saveIdentity(stateDir, identity);
    const cp = await controlPlane(identity);
    planes.push(cp);
    // The same seed and count as the agent's clinic: the same devices.
    const sameClinic = createClinic({ seed: 'cli-control', deviceCount: 4 });
    const [failing, busy] = [deviceAt(sameClinic, 0), deviceAt(sameClinic, 1)];
    const file = await controlFileIn();
    await writeControl(file, { inClinicalUse: [busy.mac], failureRate: 1 });

    // A maintenance window around now, so the agent runs the orders at once.
    const hour = new Date().getUTCHours();
    const hh = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
    await cp.sendConfig({
      version: 1,
      inventoryIntervalSec: 3600,
      healthIntervalSec: 3600,
      collectors: { inventory: { enabled: true } },
      maintenance: {
        timeZone: 'UTC',
        windows: [
          { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: hh(hour - 1), end: hh(hour + 2) },
        ],
      },
      workOrderKeys: [signer.trusted],
    });

    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const { io, output } = captureIo();
    const running = runCli(
      [
        'run',
        '--state-dir',
        stateDir,
        '--devices',
        '4',
        '--simulate-seed',
        'cli-control',
        '--simulate-control',
        file,
      ],
      { ...io, shutdownSignal: () => stopped },
    );
    try {
      await vi.waitFor(
        () =>
          expect(cp.received.map((message) => message.envelope.type)).toContain(MESSAGE_TYPES.configApplied),
        { timeout: 15_000, interval: 50 },
      );
      const window = { ...windowAroundNow(), timeZone: 'UTC' };
      const orderFor = (device: SimulatedDevice, attempt = 1, jobId?: string): SignedWorkOrder =>
        signer.sign({
          ...makeWorkOrder(identity.agentId, window, { device: { mac: device.mac }, attempt }),
          ...(jobId ? { jobId } : {}),
        });
      const finalOf = async (jobId: string, attempt: number): Promise<JobProgressBody | undefined> => {
        const terminal = ['refused', 'deferred', 'succeeded', 'failed'];
        await vi.waitFor(
          () =>
            expect(
              cp.jobProgress(jobId).some((body) => body.attempt === attempt && terminal.includes(body.state)),
            ).toBe(true),
          { timeout: 20_000, interval: 50 },
        );
        return cp
          .jobProgress(jobId)
          .find((body) => body.attempt === attempt && terminal.includes(body.state));
      };

      const failingOrder = orderFor(failing);
      const busyOrder = orderFor(busy);
      await cp.sendWorkOrder(failingOrder, 1);
      await cp.sendWorkOrder(busyOrder, 2);
      expect(await finalOf(busyOrder.jobId, 1)).toMatchObject({
        state: 'deferred',
        reason: 'IN_CLINICAL_USE',
      });
      expect(await finalOf(failingOrder.jobId, 1)).toMatchObject({
        state: 'failed',
        reason: 'FIRMWARE_NOT_UPDATED',
        firmwareVersion: failing.firmwareVersion,
      });

      await writeControl(file, {});
      // The agent polls the file every 500 ms.
      await sleep(1_500);
      await cp.sendWorkOrder(orderFor(failing, 2, failingOrder.jobId), 3);
      await cp.sendWorkOrder(orderFor(busy, 2, busyOrder.jobId), 4);
      expect(await finalOf(failingOrder.jobId, 2)).toMatchObject({
        state: 'succeeded',
        firmwareVersion: NEW_VERSION,
      });
      expect(await finalOf(busyOrder.jobId, 2)).toMatchObject({
        state: 'succeeded',
        firmwareVersion: NEW_VERSION,
      });
      expect(cp.invalid).toEqual([]);
    } finally {
      stop('SIGTERM');
    }
    expect(await running).toBe(EXIT_OK);
    expect(output.err).toBe('');
  }, 60_000);
});
