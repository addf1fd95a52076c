/**
 * IEEE MA-L prefixes (OUIs) of the vendors a simulated clinic holds. Kept small on purpose: the agent must
 * not carry the full registry. `vendor-ouis.spec.ts` checks every prefix against the `oui-data` registry.
 */
export interface VendorOui {
  /** The vendor name devices report. */
  readonly name: string;
  /** Lowercase colon-separated first three octets. */
  readonly prefixes: readonly string[];
}

export const VENDOR_OUIS = {
  // Alaris Medical Systems → Cardinal Health → CareFusion → BD: devices in the field carry all three.
  bd: { name: 'BD', prefixes: ['00:d0:75', 'f8:c6:78', '9c:c8:ae'] },
  baxter: { name: 'Baxter', prefixes: ['58:42:e4', '58:46:e1'] },
  // Smiths Medical holds no MA-L of its own; ICU Medical bought it (and the Medfusion line) in 2022.
  smiths: { name: 'Smiths Medical', prefixes: ['00:03:b1', '00:1a:01'] },
  bbraun: { name: 'B. Braun', prefixes: ['00:12:21'] },
  // Philips Patient Monitoring (Böblingen) builds IntelliVue; Andover is the former HP/Agilent CMS site.
  philips: { name: 'Philips', prefixes: ['00:09:fb', '00:09:5c'] },
  // GE Healthcare Helsinki is the former Datex-Ohmeda monitoring site (CARESCAPE); Wuxi builds ultrasound.
  geMonitoring: { name: 'GE Healthcare', prefixes: ['44:4b:5d', '00:40:97'] },
  geUltrasound: { name: 'GE Healthcare', prefixes: ['a0:f2:17'] },
  mindray: { name: 'Mindray', prefixes: ['00:a0:37', '6c:3e:51'] },
  carestream: { name: 'Carestream', prefixes: ['00:1d:4a'] },
  fujifilm: { name: 'Fujifilm', prefixes: ['88:b4:36'] },
  sonosite: { name: 'Fujifilm SonoSite', prefixes: ['00:08:fb'] },
  masimo: { name: 'Masimo', prefixes: ['08:09:b6', 'c8:8b:e8', 'e0:c2:b7'] },
  medtronic: { name: 'Medtronic', prefixes: ['54:fa:89'] },
  qualcommLife: { name: 'Qualcomm Life', prefixes: ['00:a0:c6', '64:9c:81'] },
  hp: { name: 'HP', prefixes: ['a8:b1:3b', '7c:4d:8f', '84:69:93', '3c:d9:2b'] },
  brother: { name: 'Brother', prefixes: ['00:80:77', '3c:2a:f4', 'b0:7c:8e'] },
  zebra: { name: 'Zebra', prefixes: ['00:07:4d', '84:24:8d'] },
  elo: { name: 'Elo Touch Solutions', prefixes: ['1c:ee:c9', '78:b3:ce'] },
  dell: { name: 'Dell', prefixes: ['f8:bc:12', 'b0:83:fe', '54:bf:64', '18:db:f2'] },
  meraki: { name: 'Cisco Meraki', prefixes: ['e0:55:3d', '0c:8d:db'] },
} as const satisfies Record<string, VendorOui>;

export type VendorKey = keyof typeof VENDOR_OUIS;
