import { describe, expect, it } from 'vitest';
import { collectFacts, macAddressesOf, serialFromCpuinfo } from './facts.js';

describe('facts', () => {
  it("reads a Raspberry Pi's CPU serial and ignores an all-zero one", () => {
    expect(
      serialFromCpuinfo('processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 10000000ABCDEF01\nModel\t: Pi 4\n'),
    ).toBe('10000000abcdef01');
    expect(serialFromCpuinfo('Serial\t\t: 0000000000000000\n')).toBeUndefined();
    expect(serialFromCpuinfo('model name\t: Intel\n')).toBeUndefined();
  });

  it('lists the MAC addresses of real interfaces only', () => {
    const base = { netmask: '', cidr: null, scopeid: 0 };
    const macs = macAddressesOf({
      lo: [{ ...base, address: '127.0.0.1', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true }],
      eth0: [
        { ...base, address: '10.0.0.2', family: 'IPv4', mac: 'DC:A6:32:01:02:03', internal: false },
        { ...base, address: 'fe80::1', family: 'IPv6', mac: 'dc:a6:32:01:02:03', internal: false },
      ],
      wlan0: [{ ...base, address: '10.0.1.2', family: 'IPv4', mac: 'b8:27:eb:00:00:01', internal: false }],
      tun0: [{ ...base, address: '10.8.0.2', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false }],
    });
    expect(macs).toEqual(['b8:27:eb:00:00:01', 'dc:a6:32:01:02:03']);
  });

  it('collects facts of this box', async () => {
    const facts = await collectFacts();
    expect(facts.hostname).not.toBe('');
    expect(facts.serial).not.toBe('');
    expect(facts.arch).toBe(process.arch);
  });
});
