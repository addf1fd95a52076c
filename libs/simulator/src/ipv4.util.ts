/** IPv4 subnet arithmetic for placing simulated devices. */
import type { Random } from './random.util.js';

export interface Subnet {
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  readonly prefixLength: number;
  readonly size: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(address: string): number {
  const octets = address.split('.');
  if (octets.length !== 4 || !octets.every((octet) => OCTET.test(octet))) {
    throw new RangeError(`not an IPv4 address: ${address}`);
  }
  return octets.reduce((value, octet) => value * 256 + Number(octet), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses CIDR notation (`10.20.0.0/22`); host bits must be zero. */
export function parseSubnet(cidr: string): Subnet {
  const [address, prefix, ...rest] = cidr.split('/');
  const prefixLength = Number(prefix);
  if (address === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefix ?? '') || prefixLength > 32) {
    throw new RangeError(`not an IPv4 subnet in CIDR notation: ${cidr}`);
  }
  const network = parseIpv4(address);
  const size = 2 ** (32 - prefixLength);
  if (network % size !== 0) throw new RangeError(`${cidr} has host bits set`);
  return { network, prefixLength, size };
}

/** Addresses a device may take: not the network, the gateway (first host) or the broadcast address. */
export function assignableHostCount(subnet: Subnet): number {
  return Math.max(0, subnet.size - 3);
}

/** `count` distinct random device addresses inside the subnet. */
export function sampleHostAddresses(subnet: Subnet, count: number, random: Random): string[] {
  const available = assignableHostCount(subnet);
  if (count > available) {
    throw new RangeError(
      `${formatIpv4(subnet.network)}/${subnet.prefixLength} has room for ${available} devices, not ${count}`,
    );
  }
  // Partial Fisher–Yates over a virtual array of offsets: O(count) time and memory, whatever the subnet size.
  const swapped = new Map<number, number>();
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + random.int(available - i);
    const chosen = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    addresses.push(formatIpv4(subnet.network + 2 + chosen));
  }
  return addresses;
}
