/** Facts about the agent's own box, sent at enrollment so operators can tell boxes apart. */
import fs from 'node:fs/promises';
import os from 'node:os';
import { MAC_PATTERN, type AgentFacts } from '@medfleet/contracts';
import { AGENT_VERSION } from './version.js';

/** A Raspberry Pi's CPU serial from /proc/cpuinfo (`Serial : 10000000abcdef01`); all zeros means none. */
export function serialFromCpuinfo(cpuinfo: string): string | undefined {
  const match = /^Serial\s*:\s*([0-9a-fA-F]+)\s*$/m.exec(cpuinfo);
  const serial = match?.[1]?.toLowerCase();
  return serial && !/^0+$/.test(serial) ? serial : undefined;
}

/** Hardware addresses of the real interfaces, lowercase, sorted, without duplicates. */
export function macAddressesOf(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): string[] {
  const macs = new Set<string>();
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      const mac = address.mac.toLowerCase();
      if (!address.internal && MAC_PATTERN.test(mac) && mac !== '00:00:00:00:00:00') macs.add(mac);
    }
  }
  return [...macs].sort();
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

export async function readSerial(): Promise<string> {
  const cpuSerial = serialFromCpuinfo((await readText('/proc/cpuinfo')) ?? '');
  if (cpuSerial) return cpuSerial;
  const machineId = (await readText('/etc/machine-id'))?.trim();
  return machineId || os.hostname();
}

export async function collectFacts(): Promise<AgentFacts> {
  return {
    hostname: os.hostname(),
    agentVersion: AGENT_VERSION,
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    serial: await readSerial(),
    macAddresses: macAddressesOf(os.networkInterfaces()),
  };
}
