import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClinic } from './clinic.js';
import { VENDOR_OUIS, type VendorKey } from './vendor-ouis.js';

// The full IEEE registry, loaded as data (a typed JSON import of 5 MB would slow the type checker down).
const require = createRequire(import.meta.url);
const registry = JSON.parse(readFileSync(require.resolve('oui-data'), 'utf8')) as Record<string, string>;

/** Who the IEEE must list as the registrant of each vendor's prefixes, written independently of the table. */
const EXPECTED_REGISTRANTS = {
  bd: ['Becton, Dickinson', 'Becton Dickinson', 'CareFusion', 'Alaris Medical'],
  baxter: ['Baxter'],
  smiths: ['ICU Medical'],
  bbraun: ['B.Braun', 'B. Braun'],
  philips: ['Philips Medical Systems', 'Philips Patient Monitoring'],
  geMonitoring: ['GE Healthcare', 'Datex'],
  geUltrasound: ['GE Medical System'],
  mindray: ['Mindray'],
  carestream: ['Carestream'],
  fujifilm: ['FUJIFILM Corporation'],
  sonosite: ['SonoSite'],
  masimo: ['Masimo'],
  medtronic: ['Medtronic'],
  qualcommLife: ['Qualcomm'],
  hp: ['HP Inc', 'Hewlett Packard'],
  brother: ['Brother Industries'],
  zebra: ['Zebra Technologies'],
  elo: ['Elo Touch'],
  dell: ['Dell Inc'],
  meraki: ['Cisco Meraki'],
} satisfies Record<VendorKey, string[]>;

const registrantOf = (prefix: string): string | undefined =>
  registry[prefix.replaceAll(':', '').toUpperCase()]?.split('\n')[0];

const matches = (registrant: string | undefined, fragments: readonly string[]): boolean =>
  registrant !== undefined && fragments.some((f) => registrant.toLowerCase().includes(f.toLowerCase()));

const vendors = Object.entries(VENDOR_OUIS) as [VendorKey, (typeof VENDOR_OUIS)[VendorKey]][];

describe('vendor OUI table', () => {
  it('loads the registry', () => {
    // Guards against a vacuous pass if oui-data ever changed shape.
    expect(Object.keys(registry).length).toBeGreaterThan(30_000);
    expect(registrantOf('00:00:0c')).toMatch(/cisco/i);
  });

  it.each(vendors.flatMap(([key, { prefixes }]) => prefixes.map((prefix) => [key, prefix] as const)))(
    '%s prefix %s is registered to that vendor',
    (key, prefix) => {
      expect(prefix).toMatch(/^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
      const registrant = registrantOf(prefix);
      expect(registrant, `${prefix} is not in the IEEE MA-L registry`).toBeDefined();
      expect(matches(registrant, EXPECTED_REGISTRANTS[key]), `${prefix} belongs to "${registrant}"`).toBe(
        true,
      );
    },
  );

  it('gives every prefix to one vendor only', () => {
    const all = vendors.flatMap(([, { prefixes }]) => prefixes);
    expect(new Set(all).size).toBe(all.length);
  });

  it('puts every simulated device behind a prefix registered to its reported vendor', () => {
    const expectedByName = new Map<string, string[]>();
    for (const [key, { name }] of vendors) {
      expectedByName.set(name, [...(expectedByName.get(name) ?? []), ...EXPECTED_REGISTRANTS[key]]);
    }
    for (const seed of ['oui-a', 'oui-b']) {
      for (const device of createClinic({ seed, deviceCount: 400 }).devices) {
        const registrant = registrantOf(device.mac.slice(0, 8));
        const fragments = expectedByName.get(device.vendor) ?? [];
        expect(matches(registrant, fragments), `${device.vendor} ${device.mac} → "${registrant}"`).toBe(true);
      }
    }
  });

  it('keeps the registry out of the runtime code', () => {
    const sources = readdirSync(import.meta.dirname).filter(
      (f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'),
    );
    expect(sources.length).toBeGreaterThan(3);
    for (const file of sources) {
      expect(readFileSync(path.join(import.meta.dirname, file), 'utf8'), file).not.toMatch(
        /['"]oui-data['"]/,
      );
    }
  });
});
