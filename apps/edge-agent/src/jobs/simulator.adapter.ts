/**
 * The simulator adapter: does firmware work on the devices of the simulated clinic (`--simulate`), which
 * install for real in the simulation (the image is written, the device reboots and is briefly unreachable) and
 * can be in clinical use, low on battery, or told to fail.
 */
import type { SignedWorkOrder } from '@medfleet/contracts';
import { SimulatedDeviceError, type FirmwareFault, type SimulatedClinic } from '@medfleet/simulator';
import {
  AdapterError,
  type AdapterJob,
  type ApplyOutcome,
  type DeviceAdapter,
  type PrecheckOutcome,
  type VerifyOutcome,
} from './device-adapter.js';

/** Below this charge an infusion pump is not updated: a flat battery mid-write can brick it. */
export const MIN_BATTERY_PERCENT = 30;

/** Asked right before each install with the device's MAC: a fault to make that install go wrong, or undefined. */
export type InstallFaultHook = (mac: string) => FirmwareFault | undefined;

export interface SimulatorAdapterOptions {
  /** How long verify waits for the device to answer after its reboot. */
  verifyTimeoutMs?: number;
  /** Pause between read-back attempts while it does not answer. */
  verifyPollMs?: number;
  /** Injects install failures (`run --simulate-control`'s failureRate). */
  installFault?: InstallFaultHook;
}

export function simulatorAdapter(
  clinic: SimulatedClinic,
  options: SimulatorAdapterOptions = {},
): DeviceAdapter {
  const verifyTimeoutMs = options.verifyTimeoutMs ?? 5 * 60_000;
  const verifyPollMs = options.verifyPollMs ?? 250;
  const deviceOf = (order: SignedWorkOrder) =>
    order.device.mac === undefined ? undefined : clinic.device(order.device.mac);
  const macOf = (order: SignedWorkOrder): string => {
    const device = deviceOf(order);
    if (!device) throw new AdapterError('ADAPTER_ERROR', 'the device left the simulated clinic');
    return device.mac;
  };

  return {
    name: 'simulator',
    claims: (order) => order.action.kind === 'firmware_update' && deviceOf(order) !== undefined,
    knowsDevice: (order) => deviceOf(order) !== undefined,

    precheck({ order }: AdapterJob): Promise<PrecheckOutcome> {
      const device = deviceOf(order);
      if (!device || !device.online || device.rebooting) {
        return Promise.resolve({
          ready: false,
          reason: 'DEVICE_OFFLINE',
          detail: 'the device does not answer',
        });
      }
      if (device.inClinicalUse) {
        return Promise.resolve({
          ready: false,
          reason: 'IN_CLINICAL_USE',
          detail: 'the device reports it is in clinical use',
        });
      }
      if (device.batteryPercent !== undefined && device.batteryPercent < MIN_BATTERY_PERCENT) {
        return Promise.resolve({
          ready: false,
          reason: 'LOW_BATTERY',
          detail: `battery at ${device.batteryPercent} %, below ${MIN_BATTERY_PERCENT} %`,
        });
      }
      return Promise.resolve({ ready: true, firmwareVersion: device.firmwareVersion });
    },

    async apply({ order, signal, progress }: AdapterJob): Promise<ApplyOutcome> {
      if (order.action.kind !== 'firmware_update') {
        throw new AdapterError('ADAPTER_ERROR', 'the simulator adapter does firmware updates only');
      }
      const mac = macOf(order);
      // An aborted install never starts, so it must not arm a fault that a later install would take.
      signal.throwIfAborted();
      try {
        const fault = options.installFault?.(mac);
        if (fault) clinic.failNextInstall(mac, fault);
        await clinic.installFirmware(mac, order.action.artifact.version, {
          signal,
          onProgress: progress,
        });
      } catch (error) {
        throw translate(error);
      }
      return { kind: 'applied' };
    },

    async verify({ order, signal }: AdapterJob): Promise<VerifyOutcome> {
      const mac = macOf(order);
      const giveUpAt = Date.now() + verifyTimeoutMs;
      for (;;) {
        signal.throwIfAborted();
        try {
          return { firmwareVersion: clinic.readFirmware(mac) };
        } catch (error) {
          if (!(error instanceof SimulatedDeviceError) || error.code !== 'DEVICE_UNREACHABLE')
            throw translate(error);
          if (Date.now() >= giveUpAt) {
            throw new AdapterError(
              'DEVICE_UNREACHABLE_AFTER_APPLY',
              `the device did not answer within ${verifyTimeoutMs} ms of the install`,
            );
          }
        }
        await sleep(verifyPollMs, signal);
      }
    },
  };
}

function translate(error: unknown): unknown {
  if (!(error instanceof SimulatedDeviceError)) return error;
  switch (error.code) {
    case 'IN_CLINICAL_USE':
      return new AdapterError('IN_CLINICAL_USE', error.message);
    case 'DEVICE_UNREACHABLE':
      return new AdapterError('DEVICE_OFFLINE', error.message);
    case 'APPLY_FAILED':
      return new AdapterError('APPLY_FAILED', error.message);
    default:
      return new AdapterError('ADAPTER_ERROR', error.message);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
