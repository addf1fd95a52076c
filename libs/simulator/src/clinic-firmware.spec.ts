import { describe, expect, it } from 'vitest';
import { createClinic, SimulatedDeviceError, type SimulatedClinic } from './clinic.js';

const NOW = new Date('2026-11-04T03:00:00.000Z');
const fast = { applyMs: 50, rebootMs: 60 };

function pumpOf(clinic: SimulatedClinic) {
  const pump = clinic.devices.find((device) => device.category === 'infusion_pump');
  if (!pump) throw new Error('the clinic has no pump');
  return pump;
}

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof SimulatedDeviceError ? error.code : (error as Error).name;
  }
};

describe('simulated firmware installs', () => {
  it('writes the image with progress, reboots unreachable, and comes back on the new version', async () => {
    const clinic = createClinic({ seed: 'fw', deviceCount: 10, firmwareTiming: fast });
    const pump = pumpOf(clinic);
    expect(pump.firmwareVersion).not.toBe('99.0.1');
    const progress: number[] = [];
    const install = clinic.installFirmware(pump.mac, '99.0.1', { onProgress: (p) => progress.push(p) });
    await expect.poll(() => clinic.device(pump.mac)?.rebooting, { timeout: 2_000, interval: 5 }).toBe(true);
    // Rebooting: out of the snapshot and not answering.
    expect(clinic.snapshot(NOW).map((device) => device.mac)).not.toContain(pump.mac);
    expect(() => clinic.readFirmware(pump.mac)).toThrow(SimulatedDeviceError);
    await install;
    expect(progress).toEqual([20, 40, 60, 80, 100]);
    expect(clinic.readFirmware(pump.mac)).toBe('99.0.1');
    expect(clinic.snapshot(NOW).find((device) => device.mac === pump.mac)?.firmwareVersion).toBe('99.0.1');
  });

  it('a fallback fault reboots into the old firmware, once', async () => {
    const clinic = createClinic({ seed: 'fw', deviceCount: 10, firmwareTiming: fast });
    const pump = pumpOf(clinic);
    clinic.failNextInstall(pump.mac, 'fallback');
    await clinic.installFirmware(pump.mac, '99.0.1');
    expect(clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
    await clinic.installFirmware(pump.mac, '99.0.1');
    expect(clinic.readFirmware(pump.mac)).toBe('99.0.1');
  });

  it('an apply_error fault fails the write and keeps the old firmware; no_return never comes back', async () => {
    const clinic = createClinic({ seed: 'fw', deviceCount: 10, firmwareTiming: fast });
    const pump = pumpOf(clinic);
    clinic.failNextInstall(pump.mac, 'apply_error');
    expect(await codeOf(clinic.installFirmware(pump.mac, '99.0.1'))).toBe('APPLY_FAILED');
    expect(clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
    clinic.failNextInstall(pump.mac, 'no_return');
    await clinic.installFirmware(pump.mac, '99.0.1');
    expect(await codeOf(Promise.resolve().then(() => clinic.readFirmware(pump.mac)))).toBe(
      'DEVICE_UNREACHABLE',
    );
  });

  it('refuses while in clinical use or offline, and for an unknown MAC', async () => {
    const clinic = createClinic({ seed: 'fw', deviceCount: 10, firmwareTiming: fast });
    const pump = pumpOf(clinic);
    clinic.setInClinicalUse(pump.mac, true);
    expect(clinic.device(pump.mac)?.inClinicalUse).toBe(true);
    expect(await codeOf(clinic.installFirmware(pump.mac, '99.0.1'))).toBe('IN_CLINICAL_USE');
    clinic.setInClinicalUse(pump.mac, false);
    clinic.setOnline(pump.mac, false);
    expect(await codeOf(clinic.installFirmware(pump.mac, '99.0.1'))).toBe('DEVICE_UNREACHABLE');
    expect(await codeOf(clinic.installFirmware('00:00:00:00:00:01', '99.0.1'))).toBe('DEVICE_UNKNOWN');
    expect(clinic.readFirmware.bind(clinic, pump.mac)).toThrow(/does not answer/);
  });

  it('an abort while writing keeps the old firmware and the device online', async () => {
    const clinic = createClinic({
      seed: 'fw',
      deviceCount: 10,
      firmwareTiming: { applyMs: 5_000, rebootMs: 10 },
    });
    const pump = pumpOf(clinic);
    const controller = new AbortController();
    const install = clinic.installFirmware(pump.mac, '99.0.1', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('deadline')), 30);
    await expect(install).rejects.toThrow('deadline');
    expect(clinic.device(pump.mac)).toMatchObject({ rebooting: false, online: true });
    expect(clinic.readFirmware(pump.mac)).toBe(pump.firmwareVersion);
  });

  it('pumps carry a battery charge that can be lowered; other devices have none', () => {
    const clinic = createClinic({ seed: 'fw', deviceCount: 10 });
    const pump = pumpOf(clinic);
    expect(pump.batteryPercent).toBe(100);
    clinic.setBattery(pump.mac, 12);
    expect(clinic.device(pump.mac)?.batteryPercent).toBe(12);
    expect(() => clinic.setBattery(pump.mac, 140)).toThrow(RangeError);
    expect(clinic.devices.find((device) => device.category === 'printer')?.batteryPercent).toBeUndefined();
    expect(() => clinic.setFirmwareTiming({ applyMs: -1 })).toThrow(RangeError);
  });
});
