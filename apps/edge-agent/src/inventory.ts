/** Where the agent's device list comes from. For now a simulated clinic; real discovery arrives later. */
import type { DeviceReport } from '@medfleet/contracts';
import { createClinic, type SimulatedClinic } from '@medfleet/simulator';

export interface InventorySource {
  snapshot(now: Date): DeviceReport[] | Promise<DeviceReport[]>;
}

export interface SimulationOptions {
  seed: number | string;
  deviceCount?: number;
}

export function simulatedInventory(options: SimulationOptions): SimulatedClinic {
  return createClinic({
    seed: options.seed,
    ...(options.deviceCount === undefined ? {} : { deviceCount: options.deviceCount }),
  });
}
