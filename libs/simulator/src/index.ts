export {
  createClinic,
  DEFAULT_DEVICE_COUNT,
  DEFAULT_FIRMWARE_TIMING,
  DEFAULT_SUBNET,
  SimulatedDeviceError,
  type ClinicOptions,
  type FirmwareFault,
  type FirmwareTiming,
  type InstallOptions,
  type SimulatedClinic,
  type SimulatedDevice,
} from './clinic.js';
export { DEMO_CLINICS, type ClinicAddress, type DemoClinic } from './demo-clinics.js';
export { VLANS } from './device-catalog.js';
