/**
 * The device models a simulated small practice is built from, with plausible serial formats, firmware
 * and OS versions (older, advisory-prone releases included on purpose) and factory-default hostnames.
 */
import type { DeviceCategory } from '@medfleet/contracts';
import { DIGITS, UPPER, type Random } from './random.util.js';
import type { VendorKey } from './vendor-ouis.js';

export const VLANS = { management: 10, clinical: 30, imaging: 40, office: 50 } as const;

/** How many of each category a 24-device practice holds; larger clinics scale the same mix. */
export const CATEGORY_MIX = {
  infusion_pump: 6,
  patient_monitor: 4,
  imaging: 3,
  rpm_gateway: 2,
  printer: 3,
  kiosk: 2,
  workstation: 3,
  network: 1,
} as const satisfies Partial<Record<DeviceCategory, number>>;

export type SimulatedCategory = keyof typeof CATEGORY_MIX;

/** The medical and front-office categories every clinic of six or more devices contains. */
export const CORE_CATEGORIES: readonly SimulatedCategory[] = [
  'infusion_pump',
  'imaging',
  'patient_monitor',
  'rpm_gateway',
  'printer',
  'kiosk',
];

export interface HostnameContext {
  readonly mac: string;
  readonly serial: string;
  /** 1-based position of the device within its category in this clinic. */
  readonly ordinal: number;
  /** 1-based position of the device among those of the same model in this clinic. */
  readonly modelOrdinal: number;
  readonly random: Random;
}

export interface DeviceModel {
  readonly category: SimulatedCategory;
  readonly vendor: VendorKey;
  readonly model: string;
  /** Relative share within its category. */
  readonly weight: number;
  /** Exactly one per clinic, placed first in its category (the PACS, the firewall); weight is ignored. */
  readonly onePerClinic?: boolean;
  readonly vlan: number;
  /** Firmware version → relative frequency in the field. */
  readonly firmware: Readonly<Record<string, number>>;
  readonly os?: Readonly<Record<string, number>>;
  serial(random: Random): string;
  hostname?(context: HostnameContext): string;
  /** Modules attached behind the networked unit (Alaris pump modules behind the PC unit). */
  components?(random: Random): string[];
}

const SERVICE_TAG = '0123456789BCDFGHJKLMNPQRSTVWXYZ';
const pad2 = (n: number): string => String(n).padStart(2, '0');
const macTail = (mac: string, octets: number): string => mac.split(':').slice(-octets).join('').toUpperCase();

export const DEVICE_MODELS: readonly DeviceModel[] = [
  // Infusion pumps
  {
    category: 'infusion_pump',
    vendor: 'bd',
    model: 'Alaris 8015 PC Unit',
    weight: 4,
    vlan: VLANS.clinical,
    firmware: { '9.19.2': 2, '9.33.1': 3, '12.1.0': 2, '12.1.2': 3, '12.1.3': 2 },
    serial: (r) => r.digits(8),
    components: (r) => Array.from({ length: 1 + r.int(3) }, () => 'Alaris 8100 LVP Module'),
  },
  {
    category: 'infusion_pump',
    vendor: 'baxter',
    model: 'Sigma Spectrum 35700BAX2',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '8.00.01': 2, '8.01.01': 3, '8.02.01': 2 },
    serial: (r) => r.digits(7),
  },
  {
    category: 'infusion_pump',
    vendor: 'baxter',
    model: 'Spectrum IQ 35700BAX3',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '9.02.01': 2, '9.02.03': 1 },
    serial: (r) => r.digits(7),
  },
  {
    category: 'infusion_pump',
    vendor: 'smiths',
    model: 'Medfusion 4000',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '1.1.2': 1, '1.5.0': 2, '1.6.1': 3, '1.7.0': 2 },
    serial: (r) => `4K${r.digits(7)}`,
  },
  {
    category: 'infusion_pump',
    vendor: 'smiths',
    model: 'Medfusion 3500',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '5.0.1': 1, '6.0.0': 2 },
    serial: (r) => `35${r.digits(7)}`,
  },
  {
    category: 'infusion_pump',
    vendor: 'bbraun',
    model: 'Infusomat Space',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '686E': 2, '686J': 3, '688D': 2 },
    serial: (r) => r.digits(6),
  },

  // Patient monitors
  {
    category: 'patient_monitor',
    vendor: 'philips',
    model: 'IntelliVue MX450',
    weight: 3,
    vlan: VLANS.clinical,
    firmware: { 'L.01.34': 2, 'M.00.03': 3, 'N.00.05': 1 },
    serial: (r) => `DE${r.digits(8)}`,
  },
  {
    category: 'patient_monitor',
    vendor: 'philips',
    model: 'IntelliVue MX500',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { 'L.01.34': 2, 'M.00.03': 3, 'N.00.05': 1 },
    serial: (r) => `DE${r.digits(8)}`,
  },
  {
    category: 'patient_monitor',
    vendor: 'philips',
    model: 'IntelliVue MP30',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { 'H.15.41': 2, 'J.10.52': 2 },
    serial: (r) => `DE${r.digits(8)}`,
  },
  {
    category: 'patient_monitor',
    vendor: 'geMonitoring',
    model: 'CARESCAPE B450',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '2.0.6': 2, '2.1.3': 2, '3.1.1': 1 },
    serial: (r) => `SK${r.digits(7)}GA`,
  },
  {
    category: 'patient_monitor',
    vendor: 'geMonitoring',
    model: 'CARESCAPE B650',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '2.0.6': 1, '3.1.1': 2, '3.2.0': 1 },
    serial: (r) => `SM${r.digits(7)}GA`,
  },
  {
    category: 'patient_monitor',
    vendor: 'geMonitoring',
    model: 'CARESCAPE V100',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '1.6.2': 2, '2.1.0': 1 },
    serial: (r) => `SH${r.digits(7)}GA`,
  },
  {
    category: 'patient_monitor',
    vendor: 'mindray',
    model: 'ePM 10',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '01.31.00': 1, '01.40.00': 2 },
    serial: (r) => `EP-${r.digits(8)}`,
  },
  {
    category: 'patient_monitor',
    vendor: 'mindray',
    model: 'Passport 12m',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '01.22.00': 1, '01.32.00': 2 },
    serial: (r) => `PT-${r.digits(8)}`,
  },

  // Imaging: one DICOM archive per clinic, then modalities.
  {
    category: 'imaging',
    vendor: 'dell',
    model: 'PowerEdge T350',
    weight: 0,
    onePerClinic: true,
    vlan: VLANS.imaging,
    firmware: { '1.5.1': 1, '1.7.1': 2, '1.10.2': 1 },
    os: { 'Windows Server 2016 Standard': 1, 'Windows Server 2019 Standard': 3 },
    serial: (r) => r.chars(SERVICE_TAG, 7),
    hostname: () => 'PACS01',
  },
  {
    category: 'imaging',
    vendor: 'geUltrasound',
    model: 'LOGIQ E10',
    weight: 1,
    vlan: VLANS.imaging,
    firmware: { 'R2.0.6': 1, 'R3.2.1': 2 },
    os: { 'Windows 10 IoT Enterprise 2016 LTSB': 1 },
    serial: (r) => `${r.digits(6)}WX${r.digits(1)}`,
    hostname: (c) => `LOGIQ-E10-${pad2(c.modelOrdinal)}`,
  },
  {
    category: 'imaging',
    vendor: 'geUltrasound',
    model: 'Venue Go',
    weight: 1,
    vlan: VLANS.imaging,
    firmware: { 'R2.1.1': 1, 'R3.0.2': 1 },
    os: { 'Windows 10 IoT Enterprise 2016 LTSB': 1 },
    serial: (r) => `${r.digits(6)}VG${r.digits(1)}`,
    hostname: (c) => `VENUE-GO-${pad2(c.modelOrdinal)}`,
  },
  {
    category: 'imaging',
    vendor: 'sonosite',
    model: 'SonoSite Edge II',
    weight: 1,
    vlan: VLANS.imaging,
    firmware: { '2.1.1': 1, '3.0.2': 2 },
    serial: (r) => `03${r.chars(UPPER + DIGITS, 4)}`,
  },
  {
    category: 'imaging',
    vendor: 'carestream',
    model: 'DRX-1 System (ImageView)',
    weight: 1,
    vlan: VLANS.imaging,
    firmware: { '5.7.412.7005': 2, '5.7.512.7100': 1 },
    os: { 'Windows 7 Professional SP1': 2, 'Windows 10 IoT Enterprise 2019 LTSC': 1 },
    serial: (r) => `DRX${r.digits(6)}`,
    hostname: (c) => `DR-ROOM${c.modelOrdinal}`,
  },
  {
    category: 'imaging',
    vendor: 'fujifilm',
    model: 'FDR D-EVO II Console Advance',
    weight: 1,
    vlan: VLANS.imaging,
    firmware: { 'V9.0': 1, 'V10.0': 1 },
    os: { 'Windows 10 IoT Enterprise 2019 LTSC': 1 },
    serial: (r) => r.digits(8),
    hostname: (c) => `FDR-CONSOLE-${pad2(c.modelOrdinal)}`,
  },

  // Remote patient monitoring gateways
  {
    category: 'rpm_gateway',
    vendor: 'masimo',
    model: 'Iris Gateway',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '2.1.0': 1, '2.3.1': 2, '3.0.4': 1 },
    os: { Linux: 1 },
    serial: (r) => r.digits(8),
    hostname: (c) => `iris-gw-${pad2(c.modelOrdinal)}`,
  },
  {
    category: 'rpm_gateway',
    vendor: 'medtronic',
    model: 'CareLink Express 2020A',
    weight: 2,
    vlan: VLANS.clinical,
    firmware: { '2.2.1': 1, '3.1.0': 2 },
    serial: (r) => `${r.chars(UPPER, 3)}${r.digits(6)}N`,
  },
  {
    category: 'rpm_gateway',
    vendor: 'qualcommLife',
    model: '2net Hub',
    weight: 1,
    vlan: VLANS.clinical,
    firmware: { '3.4.2': 1, '4.1.0': 2 },
    os: { Linux: 1 },
    serial: (r) => `QL${r.chars('0123456789ABCDEF', 10)}`,
  },

  // Printers
  {
    category: 'printer',
    vendor: 'hp',
    model: 'LaserJet Pro M404dn',
    weight: 3,
    vlan: VLANS.office,
    firmware: { '002.2149A': 1, '002.2310A': 2, '002.2403A': 1 },
    serial: (r) => `${r.pick(['VNB', 'PHB', 'CNB'])}${r.digits(1)}${r.chars(UPPER, 1)}${r.digits(5)}`,
    // HP's factory default: NPI followed by the last three MAC octets.
    hostname: (c) => `NPI${macTail(c.mac, 3)}`,
  },
  {
    category: 'printer',
    vendor: 'hp',
    model: 'Color LaserJet Pro MFP M479fdw',
    weight: 1,
    vlan: VLANS.office,
    firmware: { '002.2149A': 1, '002.2310A': 2 },
    serial: (r) => `${r.pick(['VNB', 'CNB'])}${r.digits(1)}${r.chars(UPPER, 1)}${r.digits(5)}`,
    hostname: (c) => `NPI${macTail(c.mac, 3)}`,
  },
  {
    category: 'printer',
    vendor: 'brother',
    model: 'MFC-L8900CDW',
    weight: 2,
    vlan: VLANS.office,
    firmware: { 'Ver.M': 1, 'Ver.Q': 2, 'Ver.ZA': 1 },
    serial: (r) => `${r.chars(UPPER, 1)}${r.digits(5)}A${r.digits(1)}${r.chars(UPPER, 1)}${r.digits(6)}`,
    // Brother's factory default: BRN (wired) followed by the whole MAC.
    hostname: (c) => `BRN${macTail(c.mac, 6)}`,
  },
  {
    category: 'printer',
    vendor: 'zebra',
    model: 'ZD421 Label Printer',
    weight: 2,
    vlan: VLANS.office,
    firmware: { 'V93.21.23Z': 1, 'V93.21.26Z': 2 },
    serial: (r) => `D4J${r.digits(9)}`,
    hostname: (c) => `ZBR${c.serial.slice(-6)}`,
  },
  {
    category: 'printer',
    vendor: 'zebra',
    model: 'GK420d Label Printer',
    weight: 1,
    vlan: VLANS.office,
    firmware: { 'V61.17.16Z': 1, 'V61.17.17Z': 2 },
    serial: (r) => `${r.digits(2)}J${r.digits(9)}`,
    hostname: (c) => `ZBR${c.serial.slice(-6)}`,
  },

  // Check-in kiosks
  {
    category: 'kiosk',
    vendor: 'elo',
    model: 'I-Series 4 Value 15.6"',
    weight: 2,
    vlan: VLANS.office,
    firmware: { '4.0.8': 1, '4.1.2': 2 },
    os: { 'Android 10': 1 },
    serial: (r) => `E${r.digits(6)}`,
    hostname: (c) => `CHECKIN-${pad2(c.ordinal)}`,
  },
  {
    category: 'kiosk',
    vendor: 'elo',
    model: 'I-Series 3 15.6"',
    weight: 1,
    vlan: VLANS.office,
    firmware: { '3.2.5': 1 },
    os: { 'Android 8.1': 1 },
    serial: (r) => `E${r.digits(6)}`,
    hostname: (c) => `CHECKIN-${pad2(c.ordinal)}`,
  },

  // Front-office workstations and the network gear the agent also sees.
  {
    category: 'workstation',
    vendor: 'dell',
    model: 'OptiPlex 7010',
    weight: 2,
    vlan: VLANS.office,
    firmware: { A18: 1, A29: 2 },
    os: { 'Windows 10 Pro 22H2': 1 },
    serial: (r) => r.chars(SERVICE_TAG, 7),
    hostname: (c) => `${c.random.pick(['FRONTDESK', 'NURSE', 'EXAM', 'BILLING'])}-${pad2(c.ordinal)}`,
  },
  {
    category: 'workstation',
    vendor: 'dell',
    model: 'OptiPlex 7000',
    weight: 3,
    vlan: VLANS.office,
    firmware: { '1.14.0': 1, '1.21.1': 2 },
    os: { 'Windows 10 Pro 22H2': 1, 'Windows 11 Pro 23H2': 2 },
    serial: (r) => r.chars(SERVICE_TAG, 7),
    hostname: (c) => `${c.random.pick(['FRONTDESK', 'NURSE', 'EXAM', 'BILLING'])}-${pad2(c.ordinal)}`,
  },
  {
    category: 'network',
    vendor: 'meraki',
    model: 'MX68',
    weight: 0,
    onePerClinic: true,
    vlan: VLANS.management,
    firmware: { 'MX 18.107.10': 1, 'MX 18.211.2': 2 },
    serial: (r) => `Q2KY-${r.chars(UPPER + DIGITS, 4)}-${r.chars(UPPER + DIGITS, 4)}`,
  },
  {
    category: 'network',
    vendor: 'meraki',
    model: 'MS120-8LP',
    weight: 1,
    vlan: VLANS.management,
    firmware: { 'MS 15.21.1': 1, 'MS 16.7': 1 },
    serial: (r) => `Q2BX-${r.chars(UPPER + DIGITS, 4)}-${r.chars(UPPER + DIGITS, 4)}`,
  },
];
