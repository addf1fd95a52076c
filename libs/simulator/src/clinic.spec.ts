import { deviceReportSchema, type DeviceCategory } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import { createClinic, type SimulatedDevice } from './clinic.js';
import { parseIpv4 } from './ipv4.util.js';

const NOW = new Date('2025-03-14T15:09:26.000Z');
const CORE: DeviceCategory[] = [
  'infusion_pump',
  'imaging',
  'patient_monitor',
  'rpm_gateway',
  'printer',
  'kiosk',
];

const countBy = <K extends string>(devices: readonly SimulatedDevice[], key: (d: SimulatedDevice) => K) => {
  const counts = new Map<K, number>();
  for (const device of devices) counts.set(key(device), (counts.get(key(device)) ?? 0) + 1);
  return counts;
};

const inSubnet = (ip: string, network: string, prefixLength: number): boolean => {
  const size = 2 ** (32 - prefixLength);
  const offset = parseIpv4(ip) - parseIpv4(network);
  return offset > 1 && offset < size - 1;
};

describe('createClinic', () => {
  it('is deterministic: the same seed gives the same clinic', () => {
    const a = createClinic({ seed: 'coral-gables', deviceCount: 60 });
    const b = createClinic({ seed: 'coral-gables', deviceCount: 60 });
    expect(b.devices).toEqual(a.devices);
    expect(b.snapshot(NOW)).toEqual(a.snapshot(NOW));
    expect(createClinic({ seed: 7 }).devices).toEqual(createClinic({ seed: '7' }).devices);
  });

  it('gives different clinics for different seeds', () => {
    const a = createClinic({ seed: 'seed-1' }).devices;
    const b = createClinic({ seed: 'seed-2' }).devices;
    expect(b).not.toEqual(a);
    // Not just a different id prefix: the hardware itself differs.
    const macsA = new Set(a.map((d) => d.mac));
    expect(b.filter((d) => macsA.has(d.mac))).toHaveLength(0);
    expect(b.map((d) => d.ip)).not.toEqual(a.map((d) => d.ip));
  });

  it('holds about two dozen devices by default, with a name and the default subnet', () => {
    const clinic = createClinic({ seed: 1 });
    expect(clinic.devices.length).toBeGreaterThanOrEqual(20);
    expect(clinic.devices.length).toBeLessThanOrEqual(30);
    expect(clinic.name).toContain('1');
    expect(clinic.subnet).toBe('10.20.0.0/22');
    expect(createClinic({ seed: 1, name: 'Doral Pediatrics' }).name).toBe('Doral Pediatrics');
  });

  it.each([6, 7, 10, 24, 200, 1000])('covers every core category with %i devices', (deviceCount) => {
    for (const seed of ['a', 'b', 'c']) {
      const clinic = createClinic({ seed, deviceCount });
      expect(clinic.devices).toHaveLength(deviceCount);
      const categories = new Set(clinic.devices.map((d) => d.category));
      for (const category of CORE) expect(categories, `${category} with ${deviceCount}`).toContain(category);
    }
  });

  it('keeps the proportions of a small practice', () => {
    const counts = countBy(createClinic({ seed: 'mix', deviceCount: 200 }).devices, (d) => d.category);
    const share = (category: DeviceCategory) => (counts.get(category) ?? 0) / 200;
    expect(share('infusion_pump')).toBeGreaterThan(share('patient_monitor'));
    expect(share('patient_monitor')).toBeGreaterThan(share('kiosk'));
    expect(share('network')).toBeLessThan(0.1);
    const medical =
      share('infusion_pump') + share('patient_monitor') + share('imaging') + share('rpm_gateway');
    expect(medical).toBeGreaterThan(0.5);
    expect(medical).toBeLessThan(0.8);
  });

  it('includes the vendors a South Florida practice actually runs', () => {
    const vendors = new Set(createClinic({ seed: 'vendors', deviceCount: 300 }).devices.map((d) => d.vendor));
    for (const vendor of [
      'BD',
      'Baxter',
      'Smiths Medical',
      'B. Braun',
      'Philips',
      'GE Healthcare',
      'Mindray',
      'Masimo',
      'Medtronic',
      'HP',
      'Brother',
      'Zebra',
      'Elo Touch Solutions',
    ]) {
      expect(vendors).toContain(vendor);
    }
  });

  it('has exactly one PACS and one firewall, however large the clinic', () => {
    for (const deviceCount of [24, 500]) {
      const devices = createClinic({ seed: 'singletons', deviceCount }).devices;
      expect(devices.filter((d) => d.hostname === 'PACS01')).toHaveLength(1);
      expect(devices.filter((d) => d.model === 'MX68')).toHaveLength(1);
    }
  });

  it('gives unique ids, MACs, IPs and serials', () => {
    const devices = createClinic({ seed: 'unique', deviceCount: 1000 }).devices;
    for (const field of ['id', 'mac', 'ip'] as const) {
      expect(new Set(devices.map((d) => d[field])).size, field).toBe(devices.length);
    }
    expect(new Set(devices.map((d) => `${d.vendor}|${d.serial}`)).size).toBe(devices.length);
  });

  it('gives hostnames that do not clash within a clinic', () => {
    for (const seed of ['h1', 'h2', 'h3']) {
      const hostnames = createClinic({ seed, deviceCount: 200 })
        .devices.map((d) => d.hostname)
        .filter((h) => h !== undefined);
      expect(hostnames.length).toBeGreaterThan(50);
      expect(new Set(hostnames).size).toBe(hostnames.length);
    }
  });

  it('addresses devices inside the subnet on the clinic VLANs', () => {
    const clinic = createClinic({ seed: 'net', deviceCount: 200, subnet: '172.16.8.0/23' });
    expect(clinic.subnet).toBe('172.16.8.0/23');
    for (const device of clinic.devices) {
      expect(inSubnet(device.ip, '172.16.8.0', 23), device.ip).toBe(true);
      expect([10, 30, 40, 50]).toContain(device.vlan);
      expect(device.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    }
    const vlanOf = countBy(clinic.devices, (d) => `${d.category}@${d.vlan}`);
    expect(vlanOf.has('infusion_pump@30')).toBe(true);
    expect(vlanOf.has('imaging@40')).toBe(true);
    expect(vlanOf.has('printer@50')).toBe(true);
  });

  it('widens the default subnet for large clinics and refuses a subnet too small', () => {
    const big = createClinic({ seed: 'big', deviceCount: 3000 });
    expect(big.devices).toHaveLength(3000);
    const [network, prefix] = big.subnet.split('/');
    expect(big.devices.every((d) => inSubnet(d.ip, network ?? '', Number(prefix)))).toBe(true);
    expect(() => createClinic({ seed: 'tiny', deviceCount: 10, subnet: '10.1.1.0/29' })).toThrow(
      /room for 5/,
    );
    expect(() => createClinic({ seed: 'bad', subnet: '10.1.1.1/24' })).toThrow(RangeError);
    expect(() => createClinic({ seed: 'none', deviceCount: 0 })).toThrow(RangeError);
  });

  it('uses the factory-default hostnames of network printers', () => {
    const devices = createClinic({ seed: 'printers', deviceCount: 200 }).devices;
    const hp = devices.filter((d) => d.vendor === 'HP');
    const brother = devices.filter((d) => d.vendor === 'Brother');
    expect(hp.length).toBeGreaterThan(0);
    expect(brother.length).toBeGreaterThan(0);
    for (const d of hp) expect(d.hostname).toBe(`NPI${d.mac.slice(9).replaceAll(':', '').toUpperCase()}`);
    for (const d of brother) expect(d.hostname).toBe(`BRN${d.mac.replaceAll(':', '').toUpperCase()}`);
  });

  it('puts pump modules behind every Alaris PC unit', () => {
    const alaris = createClinic({ seed: 'alaris', deviceCount: 200 }).devices.filter(
      (d) => d.vendor === 'BD',
    );
    expect(alaris.length).toBeGreaterThan(0);
    for (const unit of alaris) {
      expect(unit.model).toContain('8015');
      expect(unit.components?.length).toBeGreaterThanOrEqual(1);
      expect(unit.components?.every((m) => m.includes('8100'))).toBe(true);
    }
  });
});

describe('snapshot', () => {
  it.each(['alpha', 'bravo', 'charlie', 42, 0])('validates against the contract (seed %s)', (seed) => {
    const reports = createClinic({ seed }).snapshot(NOW);
    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) expect(deviceReportSchema.safeParse(report).error).toBeUndefined();
  });

  it('validates against the contract with 500 devices', () => {
    const reports = createClinic({ seed: 'five-hundred', deviceCount: 500 }).snapshot(NOW);
    expect(reports).toHaveLength(500);
    for (const report of reports) deviceReportSchema.parse(report);
  });

  it('stamps every report with the observation time and the device facts', () => {
    const clinic = createClinic({ seed: 'stamp' });
    const reports = clinic.snapshot(NOW);
    expect(reports.every((r) => r.observedAt === '2025-03-14T15:09:26.000Z')).toBe(true);
    const first = clinic.devices[0];
    expect(reports.find((r) => r.mac === first?.mac)).toMatchObject({
      ip: first?.ip,
      vendor: first?.vendor,
      model: first?.model,
      firmwareVersion: first?.firmwareVersion,
    });
    expect(() => clinic.snapshot(new Date('not a date'))).toThrow(RangeError);
  });
});

describe('device state changes', () => {
  it('changes firmware in later snapshots only for the given device', () => {
    const clinic = createClinic({ seed: 'patch' });
    const before = clinic.devices;
    const target = before[3];
    if (!target) throw new Error('fixture too small');
    clinic.setFirmware(target.mac, '12.3.0');

    const reports = clinic.snapshot(NOW);
    expect(reports.find((r) => r.mac === target.mac)?.firmwareVersion).toBe('12.3.0');
    const others = reports.filter((r) => r.mac !== target.mac);
    expect(others.map((r) => r.firmwareVersion)).toEqual(
      before.filter((d) => d.mac !== target.mac).map((d) => d.firmwareVersion),
    );
    // Stable identity, and lists handed out earlier do not change under the caller.
    expect(clinic.devices.find((d) => d.mac === target.mac)?.id).toBe(target.id);
    expect(before[3]?.firmwareVersion).toBe(target.firmwareVersion);
  });

  it('leaves offline devices out of snapshots until they come back', () => {
    const clinic = createClinic({ seed: 'power' });
    const total = clinic.devices.length;
    const [a, b] = clinic.devices;
    if (!a || !b) throw new Error('fixture too small');
    clinic.setOnline(a.mac, false);
    clinic.setOnline(b.mac.toUpperCase(), false);
    const reports = clinic.snapshot(NOW);
    expect(reports).toHaveLength(total - 2);
    expect(reports.map((r) => r.mac)).not.toContain(a.mac);
    expect(clinic.devices).toHaveLength(total);
    expect(clinic.devices.filter((d) => !d.online).map((d) => d.mac)).toEqual([a.mac, b.mac]);

    clinic.setOnline(a.mac, true);
    expect(clinic.snapshot(NOW).map((r) => r.mac)).toContain(a.mac);
  });

  it('refuses unknown devices and versions the contract cannot carry', () => {
    const clinic = createClinic({ seed: 'errors' });
    const mac = clinic.devices[0]?.mac ?? '';
    expect(() => clinic.setFirmware('00:00:00:00:00:00', '1.0')).toThrow(/no device/);
    expect(() => clinic.setOnline('00:00:00:00:00:00', false)).toThrow(/no device/);
    expect(() => clinic.setFirmware(mac, '')).toThrow(RangeError);
    expect(() => clinic.setFirmware(mac, 'x'.repeat(65))).toThrow(RangeError);
    expect(() => (clinic.devices as SimulatedDevice[]).pop()).toThrow(TypeError);
  });
});
