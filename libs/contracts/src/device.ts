/** What an agent reports about one device on the clinical network. */
import { z } from 'zod';

export const DEVICE_CATEGORIES = [
  'infusion_pump',
  'imaging',
  'patient_monitor',
  'rpm_gateway',
  'printer',
  'kiosk',
  'workstation',
  'network',
  'unknown',
] as const;
export type DeviceCategory = (typeof DEVICE_CATEGORIES)[number];

/** MAC addresses travel lowercase, colon-separated: `00:1a:2b:3c:4d:5e`. */
export const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const text = (max: number) => z.string().min(1).max(max);

export const deviceReportSchema = z.strictObject({
  mac: z.string().regex(MAC_PATTERN, 'lowercase colon-separated MAC'),
  ip: z.union([z.ipv4(), z.ipv6()]).optional(),
  vlan: z.number().int().min(0).max(4094).optional(),
  category: z.enum(DEVICE_CATEGORIES),
  vendor: text(128).optional(),
  model: text(128).optional(),
  serial: text(128).optional(),
  firmwareVersion: text(64).optional(),
  os: text(128).optional(),
  hostname: text(253).optional(),
  /** When the agent last saw the device on the network. */
  observedAt: z.iso.datetime({ offset: true }),
});
export type DeviceReport = z.infer<typeof deviceReportSchema>;
