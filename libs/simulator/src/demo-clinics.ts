/** The fictional practices the demo fleet runs: two in Miami-Dade County, one in Broward County. */
import type { ClinicOptions } from './clinic.js';

export interface ClinicAddress {
  readonly street: string;
  readonly city: string;
  readonly state: 'FL';
  readonly zip: string;
}

export interface DemoClinic extends ClinicOptions {
  /** Short stable handle, usable in ids and file names. */
  readonly key: string;
  readonly name: string;
  readonly seed: string;
  readonly deviceCount: number;
  readonly subnet: string;
  readonly address: ClinicAddress;
  readonly county: 'Miami-Dade' | 'Broward';
  readonly timeZone: 'America/New_York';
}

/** Names and suites are invented; each can be passed straight to `createClinic`. */
export const DEMO_CLINICS: readonly DemoClinic[] = Object.freeze([
  {
    key: 'coral-way-family-medicine',
    name: 'Coral Way Family Medicine',
    seed: 'medfleet-demo/coral-way-family-medicine',
    deviceCount: 24,
    subnet: '10.20.0.0/22',
    address: { street: '3150 Coral Way, Suite 204', city: 'Miami', state: 'FL', zip: '33145' },
    county: 'Miami-Dade',
    timeZone: 'America/New_York',
  },
  {
    key: 'kendall-infusion-and-cardiology',
    name: 'Kendall Infusion & Cardiology Associates',
    seed: 'medfleet-demo/kendall-infusion-and-cardiology',
    deviceCount: 36,
    subnet: '10.21.0.0/22',
    address: { street: '8950 SW 107th Ave, Suite 310', city: 'Miami', state: 'FL', zip: '33176' },
    county: 'Miami-Dade',
    timeZone: 'America/New_York',
  },
  {
    key: 'las-olas-internal-medicine',
    name: 'Las Olas Internal Medicine',
    seed: 'medfleet-demo/las-olas-internal-medicine',
    deviceCount: 18,
    subnet: '10.30.0.0/22',
    address: {
      street: '1150 E Las Olas Blvd, Suite 401',
      city: 'Fort Lauderdale',
      state: 'FL',
      zip: '33301',
    },
    county: 'Broward',
    timeZone: 'America/New_York',
  },
]);
