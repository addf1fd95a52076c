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
  return new Clinic(options.seed, options.name ?? `Simulated clinic ${options.seed}`, subnet, devices);
}

class Clinic implements SimulatedClinic {
  #devices: readonly SimulatedDevice[];
  readonly #indexByMac: ReadonlyMap<string, number>;

  constructor(
    readonly seed: number | string,
    readonly name: string,
    readonly subnet: string,
    devices: SimulatedDevice[],
  ) {
    this.#devices = Object.freeze(devices.map((device) => Object.freeze(device)));
    this.#indexByMac = new Map(devices.map((device, index) => [device.mac, index]));
  }

  get devices(): readonly SimulatedDevice[] {
    return this.#devices;
  }

  snapshot(now: Date): DeviceReport[] {
    if (Number.isNaN(now.getTime())) throw new RangeError('snapshot needs a valid date');
    const observedAt = now.toISOString();
    return this.#devices.filter((device) => device.online).map((device) => toReport(device, observedAt));
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

  #update(mac: string, change: Partial<Pick<SimulatedDevice, 'firmwareVersion' | 'online'>>): void {
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
  };
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
