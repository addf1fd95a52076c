import { describe, expect, it } from 'vitest';
import { createClinic } from './clinic.js';
import { DEMO_CLINICS } from './demo-clinics.js';

describe('DEMO_CLINICS', () => {
  it('has two Miami-Dade practices and one in Broward', () => {
    expect(DEMO_CLINICS).toHaveLength(3);
    expect(DEMO_CLINICS.filter((c) => c.county === 'Miami-Dade')).toHaveLength(2);
    expect(DEMO_CLINICS.filter((c) => c.county === 'Broward')).toHaveLength(1);
  });

  it('gives each a complete Florida address and the Eastern time zone', () => {
    for (const clinic of DEMO_CLINICS) {
      expect(clinic.name.length).toBeGreaterThan(3);
      expect(clinic.address.street).toMatch(/^\d+ /);
      expect(clinic.address.city.length).toBeGreaterThan(2);
      expect(clinic.address.state).toBe('FL');
      // South Florida ZIP codes (Miami-Dade and Broward) all start with 330–333.
      expect(clinic.address.zip).toMatch(/^33[0-3]\d\d$/);
      expect(clinic.timeZone).toBe('America/New_York');
      expect(() => new Intl.DateTimeFormat('en-US', { timeZone: clinic.timeZone })).not.toThrow();
    }
  });

  it('has distinct keys, seeds and networks, and builds distinct clinics', () => {
    for (const field of ['key', 'name', 'seed', 'subnet'] as const) {
      expect(new Set(DEMO_CLINICS.map((c) => c[field])).size, field).toBe(3);
    }
    const clinics = DEMO_CLINICS.map((demo) => createClinic(demo));
    clinics.forEach((clinic, i) => {
      expect(clinic.name).toBe(DEMO_CLINICS[i]?.name);
      expect(clinic.devices).toHaveLength(DEMO_CLINICS[i]?.deviceCount ?? -1);
    });
    const macs = clinics.flatMap((c) => c.devices.map((d) => d.mac));
    const ids = clinics.flatMap((c) => c.devices.map((d) => d.id));
    expect(new Set(macs).size).toBe(macs.length);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
