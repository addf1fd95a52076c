import { describe, expect, it } from 'vitest';
import { formatIpv4, parseIpv4, parseSubnet, sampleHostAddresses } from './ipv4.util.js';
import { createRandom } from './random.util.js';

describe('IPv4 helpers', () => {
  it('round-trips addresses', () => {
    for (const address of ['0.0.0.0', '10.20.3.255', '192.168.1.7', '255.255.255.255']) {
      expect(formatIpv4(parseIpv4(address))).toBe(address);
    }
    expect(parseIpv4('10.20.0.1')).toBe(10 * 2 ** 24 + 20 * 2 ** 16 + 1);
  });

  it.each([
    '10.20.0',
    '10.20.0.256',
    '10.020.0.1',
    'a.b.c.d',
    '10.20.0.0/33',
    '10.20.0.0',
    '10.20.1.0/22',
    '/22',
  ])('refuses %s as a subnet', (cidr) => {
    expect(() => parseSubnet(cidr)).toThrow(RangeError);
  });

  it('uses every assignable address of a small subnet, and nothing else', () => {
    const subnet = parseSubnet('192.168.7.8/29');
    const addresses = sampleHostAddresses(subnet, 5, createRandom('small'));
    // .8 network, .9 gateway, .15 broadcast.
    expect([...addresses].sort()).toEqual([
      '192.168.7.10',
      '192.168.7.11',
      '192.168.7.12',
      '192.168.7.13',
      '192.168.7.14',
    ]);
    expect(() => sampleHostAddresses(subnet, 6, createRandom('small'))).toThrow(/room for 5/);
  });

  it('draws distinct addresses from a large subnet', () => {
    const addresses = sampleHostAddresses(parseSubnet('10.0.0.0/8'), 10_000, createRandom('large'));
    expect(new Set(addresses).size).toBe(10_000);
    expect(addresses.every((a) => a.startsWith('10.'))).toBe(true);
  });
});
