export {
  createClinic,
  DEFAULT_DEVICE_COUNT,
  DEFAULT_SUBNET,
  type ClinicOptions,
  type SimulatedClinic,
  type SimulatedDevice,
} from './clinic.js';
export { DEMO_CLINICS, type ClinicAddress, type DemoClinic } from './demo-clinics.js';
export { VLANS } from './device-catalog.js';
