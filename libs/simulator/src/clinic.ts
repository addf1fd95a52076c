/** A simulated clinic: a reproducible set of networked devices whose state tests and demos can change. */
import { MAC_PATTERN, type DeviceCategory, type DeviceReport } from '@medfleet/contracts';
import {
  CATEGORY_MIX,
  CORE_CATEGORIES,
  DEVICE_MODELS,
  type DeviceModel,
  type SimulatedCategory,
} from './device-catalog.js';
import { assignableHostCount, parseSubnet, sampleHostAddresses } from './ipv4.util.js';
import { createRandom, hashSeed, type Random } from './random.util.js';
import { VENDOR_OUIS } from './vendor-ouis.js';

export const DEFAULT_DEVICE_COUNT = 24;
export const DEFAULT_SUBNET = '10.20.0.0/22';

export interface ClinicOptions {
  /** Same seed (and options) → identical devices. A number and its decimal string are the same seed. */
  readonly seed: number | string;
  readonly name?: string;
  readonly deviceCount?: number;
  /** IPv4 CIDR the devices live in. Defaults to 10.20.0.0/22, widened under 10.0.0.0/8 for large counts. */
  readonly subnet?: string;
  /** How long a firmware install takes (see `installFirmware`). */
  readonly firmwareTiming?: Partial<FirmwareTiming>;
}

/** A firmware install: the image is written for `applyMs`, then the device reboots, unreachable for `rebootMs`. */
export interface FirmwareTiming {
  readonly applyMs: number;
  readonly rebootMs: number;
}

export const DEFAULT_FIRMWARE_TIMING: FirmwareTiming = Object.freeze({ applyMs: 3_000, rebootMs: 2_000 });

/**
 * What the next install on a device does wrong: `fallback` reboots into the old firmware (the bootloader
 * rejected the new image), `apply_error` fails while writing, `no_return` never comes back from the reboot.
 */
export type FirmwareFault = 'fallback' | 'apply_error' | 'no_return';

export interface InstallOptions {
  /** Aborting while the image is written leaves the old firmware; once rebooting, the reboot completes. */
  readonly signal?: AbortSignal;
  /** Called as the image is written, 0–100. */
  readonly onProgress?: (percent: number) => void;
}

/** The device cannot do what was asked (offline, in clinical use, unknown, or a fault was injected). */
export class SimulatedDeviceError extends Error {
  constructor(
    readonly code: 'DEVICE_UNKNOWN' | 'DEVICE_UNREACHABLE' | 'IN_CLINICAL_USE' | 'APPLY_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'SimulatedDeviceError';
  }
}

export interface SimulatedDevice {
  /** Stable for a given seed: derived from the seed and the device's position. */
  readonly id: string;
  readonly mac: string;
  readonly ip: string;
  readonly vlan: number;
  readonly category: DeviceCategory;
  readonly vendor: string;
  readonly model: string;
  readonly serial: string;
  readonly firmwareVersion: string;
  readonly os?: string;
  readonly hostname?: string;
  /** Modules behind the networked unit, e.g. the pump modules of an Alaris PC unit. */
  readonly components?: readonly string[];
  readonly online: boolean;
  /** A clinician is using it (an infusion running, an exam under way): no maintenance now. */
  readonly inClinicalUse: boolean;
  /** Charge of battery-powered devices (infusion pumps), 0–100; absent for mains-powered ones. */
  readonly batteryPercent?: number;
  /** Between the end of a firmware write and the device answering again. */
  readonly rebooting: boolean;
}

export interface SimulatedClinic {
  readonly seed: number | string;
  readonly name: string;
  readonly subnet: string;
  /** The current devices; a list obtained earlier is not changed by later updates. */
  readonly devices: readonly SimulatedDevice[];
  /** What an agent would report now: every online device, observed at `now`. */
  snapshot(now: Date): DeviceReport[];
  setFirmware(mac: string, version: string): void;
  setOnline(mac: string, online: boolean): void;
  /** The device with this MAC now, or undefined. */
  device(mac: string): SimulatedDevice | undefined;
  setInClinicalUse(mac: string, inUse: boolean): void;
  setBattery(mac: string, percent: number): void;
  /** Makes the next firmware install on the device go wrong in this way (once). */
  failNextInstall(mac: string, fault: FirmwareFault): void;
  setFirmwareTiming(timing: Partial<FirmwareTiming>): void;
  /**
   * Installs firmware the way a device does: refuses when unreachable or in clinical use, writes the image
   * (progress reported), then reboots (offline, out of snapshots) and comes back on the new version, or on the
   * old one after a `fallback` fault. Resolves when the reboot is over.
   */
  installFirmware(mac: string, version: string, options?: InstallOptions): Promise<void>;
  /** Asks the device for its firmware version; throws DEVICE_UNREACHABLE while it is offline or rebooting. */
  readFirmware(mac: string): string;
}

export function createClinic(options: ClinicOptions): SimulatedClinic {
  const deviceCount = options.deviceCount ?? DEFAULT_DEVICE_COUNT;
  if (!Number.isSafeInteger(deviceCount) || deviceCount < 1) {
    throw new RangeError(`deviceCount must be a positive integer: ${deviceCount}`);
  }
  const subnet = options.subnet ?? defaultSubnetFor(deviceCount);
  const random = createRandom(options.seed);
  const addresses = sampleHostAddresses(parseSubnet(subnet), deviceCount, random);
  const idPrefix = hashSeed(String(options.seed))[0].toString(16).padStart(8, '0');

  const devices: SimulatedDevice[] = [];
  const perModel = new Map<DeviceModel, number>();
  const macs = new Set<string>();
  const serials = new Set<string>();
  for (const [category, count] of categoryCounts(deviceCount)) {
    const models = modelsFor(category);
    for (let ordinal = 1; ordinal <= count; ordinal++) {
      const model = ordinal === 1 && models.anchor ? models.anchor : pickModel(models.others, random);
      const index = devices.length;
      const modelOrdinal = (perModel.get(model) ?? 0) + 1;
      perModel.set(model, modelOrdinal);
      devices.push(
        buildDevice(model, {
          id: `${idPrefix}-${String(index + 1).padStart(4, '0')}`,
          ip: addresses[index] as string,
          ordinal,
          modelOrdinal,
          random,
          macs,
          serials,
        }),
      );
    }
  }
  return new Clinic(options.seed, options.name ?? `Simulated clinic ${options.seed}`, subnet, devices, {
    ...DEFAULT_FIRMWARE_TIMING,
    ...options.firmwareTiming,
  });
}

class Clinic implements SimulatedClinic {
  #devices: readonly SimulatedDevice[];
  readonly #indexByMac: ReadonlyMap<string, number>;
  readonly #faults = new Map<string, FirmwareFault>();
  #timing: FirmwareTiming;

  constructor(
    readonly seed: number | string,
    readonly name: string,
    readonly subnet: string,
    devices: SimulatedDevice[],
    timing: FirmwareTiming,
  ) {
    this.#timing = checkTiming(timing);
    this.#devices = Object.freeze(devices.map((device) => Object.freeze(device)));
    this.#indexByMac = new Map(devices.map((device, index) => [device.mac, index]));
  }

  get devices(): readonly SimulatedDevice[] {
    return this.#devices;
  }

  snapshot(now: Date): DeviceReport[] {
    if (Number.isNaN(now.getTime())) throw new RangeError('snapshot needs a valid date');
    const observedAt = now.toISOString();
    return this.#devices
      .filter((device) => device.online && !device.rebooting)
      .map((device) => toReport(device, observedAt));
  }

  setFirmware(mac: string, version: string): void {
    // The contract caps firmware versions at 64 characters; refuse what the snapshot could not carry.
    if (version.trim().length === 0 || version.length > 64) {
      throw new RangeError(`firmware version must be 1-64 characters: "${version}"`);
    }
    this.#update(mac, { firmwareVersion: version });
  }

  setOnline(mac: string, online: boolean): void {
    this.#update(mac, { online });
  }

  device(mac: string): SimulatedDevice | undefined {
    const index = this.#indexByMac.get(mac.toLowerCase());
    return index === undefined ? undefined : this.#devices[index];
  }

  setInClinicalUse(mac: string, inUse: boolean): void {
    this.#update(mac, { inClinicalUse: inUse });
  }

  setBattery(mac: string, percent: number): void {
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`battery charge must be 0-100: ${percent}`);
    }
    this.#update(mac, { batteryPercent: percent });
  }

  failNextInstall(mac: string, fault: FirmwareFault): void {
    this.#require(mac);
    this.#faults.set(mac.toLowerCase(), fault);
  }

  setFirmwareTiming(timing: Partial<FirmwareTiming>): void {
    this.#timing = checkTiming({ ...this.#timing, ...timing });
  }

  readFirmware(mac: string): string {
    const device = this.#require(mac);
    if (!device.online || device.rebooting) {
      throw new SimulatedDeviceError('DEVICE_UNREACHABLE', `${device.mac} does not answer`);
    }
    return device.firmwareVersion;
  }

  async installFirmware(mac: string, version: string, options: InstallOptions = {}): Promise<void> {
    const device = this.#require(mac);
    if (version.trim().length === 0 || version.length > 64) {
      throw new RangeError(`firmware version must be 1-64 characters: "${version}"`);
    }
    options.signal?.throwIfAborted();
    if (!device.online || device.rebooting) {
      throw new SimulatedDeviceError('DEVICE_UNREACHABLE', `${device.mac} does not answer`);
    }
    if (device.inClinicalUse) {
      throw new SimulatedDeviceError('IN_CLINICAL_USE', `${device.mac} is in clinical use`);
    }
    const key = device.mac;
    const fault = this.#faults.get(key);
    this.#faults.delete(key);
    const { applyMs, rebootMs } = this.#timing;
    const ticks = 5;
    for (let tick = 1; tick <= ticks; tick++) {
      await delay(applyMs / ticks, options.signal);
      if (fault === 'apply_error' && tick === 3) {
        throw new SimulatedDeviceError('APPLY_FAILED', `${device.mac} reported a write error at 60 %`);
      }
      options.onProgress?.((tick * 100) / ticks);
    }
    // Written: from here the device reboots whatever the caller does.
    this.#update(key, { rebooting: true });
    const rebooted = delay(rebootMs).then(() => {
      if (fault === 'no_return') return;
      this.#update(key, { rebooting: false, ...(fault === 'fallback' ? {} : { firmwareVersion: version }) });
    });
    await Promise.race([rebooted, abortOf(options.signal)]);
  }

  #require(mac: string): SimulatedDevice {
    const device = this.device(mac);
    if (!device)
      throw new SimulatedDeviceError('DEVICE_UNKNOWN', `no device with MAC ${mac} in ${this.name}`);
    return device;
  }

  #update(
    mac: string,
    change: Partial<
      Pick<SimulatedDevice, 'firmwareVersion' | 'online' | 'inClinicalUse' | 'batteryPercent' | 'rebooting'>
    >,
  ): void {
    const index = this.#indexByMac.get(mac.toLowerCase());
    const current = index === undefined ? undefined : this.#devices[index];
    if (index === undefined || current === undefined) {
      throw new Error(`no device with MAC ${mac} in ${this.name}`);
    }
    // Copy on write, so lists handed out earlier stay as they were.
    const devices = [...this.#devices];
    devices[index] = Object.freeze({ ...current, ...change });
    this.#devices = Object.freeze(devices);
  }
}

function toReport(device: SimulatedDevice, observedAt: string): DeviceReport {
  const report: DeviceReport = {
    mac: device.mac,
    ip: device.ip,
    vlan: device.vlan,
    category: device.category,
    vendor: device.vendor,
    model: device.model,
    serial: device.serial,
    firmwareVersion: device.firmwareVersion,
    observedAt,
  };
  if (device.os !== undefined) report.os = device.os;
  if (device.hostname !== undefined) report.hostname = device.hostname;
  return report;
}

interface BuildContext {
  readonly id: string;
  readonly ip: string;
  readonly ordinal: number;
  readonly modelOrdinal: number;
  readonly random: Random;
  readonly macs: Set<string>;
  readonly serials: Set<string>;
}

function buildDevice(model: DeviceModel, context: BuildContext): SimulatedDevice {
  const { random } = context;
  const vendor = VENDOR_OUIS[model.vendor];
  const mac = unique(context.macs, () => {
    const suffix = Array.from({ length: 3 }, () => random.int(256).toString(16).padStart(2, '0'));
    return [random.pick(vendor.prefixes), ...suffix].join(':');
  });
  if (!MAC_PATTERN.test(mac)) throw new Error(`malformed OUI prefix for ${vendor.name}: ${mac}`);
  const serial = unique(context.serials, () => model.serial(random), `${vendor.name}|`);
  const firmwareVersion = random.weighted(model.firmware);
  const os = model.os ? random.weighted(model.os) : undefined;
  const hostname = model.hostname?.({
    mac,
    serial,
    ordinal: context.ordinal,
    modelOrdinal: context.modelOrdinal,
    random,
  });
  const components = model.components?.(random);
  return {
    id: context.id,
    mac,
    ip: context.ip,
    vlan: model.vlan,
    category: model.category,
    vendor: vendor.name,
    model: model.model,
    serial,
    firmwareVersion,
    ...(os === undefined ? {} : { os }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(components === undefined ? {} : { components: Object.freeze(components) }),
    online: true,
    inClinicalUse: false,
    // Fixed, not drawn from the seeded stream, so every other attribute of a seed stays as it was.
    ...(model.category === 'infusion_pump' ? { batteryPercent: 100 } : {}),
    rebooting: false,
  };
}

function checkTiming(timing: FirmwareTiming): FirmwareTiming {
  for (const [name, value] of Object.entries(timing)) {
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`${name} must be a duration in ms: ${value}`);
  }
  return Object.freeze({ applyMs: timing.applyMs, rebootMs: timing.rebootMs });
}

/** Waits `ms`; rejects with the signal's reason if it aborts first. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Never settles unless the signal aborts; then rejects with its reason. */
function abortOf(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

/** Draws until `generate` yields a value not yet in `taken` (scoped by `scope`), then records it. */
function unique(taken: Set<string>, generate: () => string, scope = ''): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const value = generate();
    if (!taken.has(scope + value)) {
      taken.add(scope + value);
      return value;
    }
  }
  throw new Error('could not draw a unique value; the value space is exhausted');
}

/** Splits `total` over CATEGORY_MIX by largest remainder, keeping every core category when there is room. */
export function categoryCounts(total: number): Map<SimulatedCategory, number> {
  const mix = Object.entries(CATEGORY_MIX) as [SimulatedCategory, number][];
  const weightSum = mix.reduce((sum, [, weight]) => sum + weight, 0);
  const shares = mix.map(([category, weight]) => ({ category, exact: (total * weight) / weightSum }));
  const counts = new Map(shares.map(({ category, exact }) => [category, Math.floor(exact)]));
  let left = total - [...counts.values()].reduce((sum, count) => sum + count, 0);
  const byRemainder = [...shares].sort(
    (a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)),
  );
  for (const { category } of byRemainder) {
    if (left === 0) break;
    counts.set(category, (counts.get(category) ?? 0) + 1);
    left--;
  }
  if (total >= CORE_CATEGORIES.length) {
    for (const missing of CORE_CATEGORIES.filter((category) => counts.get(category) === 0)) {
      const donor = [...counts]
        .filter(([category, count]) => count > (CORE_CATEGORIES.includes(category) ? 1 : 0))
        .sort(([a, countA], [b, countB]) => rank(a) - rank(b) || countB - countA)[0];
      if (!donor) break;
      counts.set(donor[0], donor[1] - 1);
      counts.set(missing, 1);
    }
  }
  return counts;
}

/** Non-medical categories give up devices first when a small clinic needs room for a core one. */
const rank = (category: SimulatedCategory): number => (CORE_CATEGORIES.includes(category) ? 1 : 0);

function modelsFor(category: SimulatedCategory): { anchor?: DeviceModel; others: DeviceModel[] } {
  const models = DEVICE_MODELS.filter((model) => model.category === category);
  return {
    anchor: models.find((model) => model.onePerClinic),
    others: models.filter((m) => !m.onePerClinic),
  };
}

function pickModel(models: readonly DeviceModel[], random: Random): DeviceModel {
  const total = models.reduce((sum, model) => sum + model.weight, 0);
  let roll = random.next() * total;
  for (const model of models) {
    roll -= model.weight;
    if (roll < 0) return model;
  }
  return random.pick(models);
}

/** 10.20.0.0/22 when it fits; otherwise the smallest 10.0.0.0/n that does. */
function defaultSubnetFor(deviceCount: number): string {
  if (deviceCount <= assignableHostCount(parseSubnet(DEFAULT_SUBNET))) return DEFAULT_SUBNET;
  for (let prefixLength = 21; prefixLength >= 8; prefixLength--) {
    const candidate = `10.0.0.0/${prefixLength}`;
    if (deviceCount <= assignableHostCount(parseSubnet(candidate))) return candidate;
  }
  throw new RangeError(`deviceCount ${deviceCount} does not fit in 10.0.0.0/8`);
}
