import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  hotp,
  otpauthUri,
  timeStep,
  totp,
  verifyTotp,
  type TotpAlgorithm,
} from './totp.util.js';

// RFC 6238 appendix B: the seeds are the ASCII string "1234567890" repeated to the hash's block size.
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};

const RFC6238_VECTORS: [number, TotpAlgorithm, string][] = [
  [59, 'SHA1', '94287082'],
  [59, 'SHA256', '46119246'],
  [59, 'SHA512', '90693936'],
  [1111111109, 'SHA1', '07081804'],
  [1111111109, 'SHA256', '68084774'],
  [1111111109, 'SHA512', '25091201'],
  [1111111111, 'SHA1', '14050471'],
  [1111111111, 'SHA256', '67062674'],
  [1111111111, 'SHA512', '99943326'],
  [1234567890, 'SHA1', '89005924'],
  [1234567890, 'SHA256', '91819424'],
  [1234567890, 'SHA512', '93441116'],
  [2000000000, 'SHA1', '69279037'],
  [2000000000, 'SHA256', '90698825'],
  [2000000000, 'SHA512', '38618901'],
  [20000000000, 'SHA1', '65353130'],
  [20000000000, 'SHA256', '77737706'],
  [20000000000, 'SHA512', '47863826'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(RFC6238_VECTORS)('at %i s with %s answers %s', (seconds, algorithm, expected) => {
    expect(totp(SEEDS[algorithm], new Date(seconds * 1000), { algorithm, digits: 8, period: 30 })).toBe(
      expected,
    );
  });

  it('HOTP matches the RFC 4226 appendix D values', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583'];
    expect(expected.map((_, counter) => hotp(SEEDS.SHA1, counter))).toEqual(expected);
  });

  const at = new Date(1_700_000_000_000);
  const code = (offsetSteps: number) => totp(SEEDS.SHA1, new Date(at.getTime() + offsetSteps * 30_000));

  it('accepts the current code and one step of drift either way, answering the matched step', () => {
    expect(verifyTotp(SEEDS.SHA1, code(0), at)).toBe(timeStep(at));
    expect(verifyTotp(SEEDS.SHA1, code(-1), at)).toBe(timeStep(at) - 1);
    expect(verifyTotp(SEEDS.SHA1, code(1), at)).toBe(timeStep(at) + 1);
  });

  it('refuses codes outside the window, malformed codes and another secret', () => {
    expect(verifyTotp(SEEDS.SHA1, code(-2), at)).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, code(2), at)).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, '12345', at)).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, '12345a', at)).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, ` ${code(0)}`, at)).toBeNull();
    expect(verifyTotp(Buffer.from('another secret 12345'), code(0), at)).toBeNull();
  });

  it('refuses a code of a step already used (replay) but accepts a later one', () => {
    const step = timeStep(at);
    expect(verifyTotp(SEEDS.SHA1, code(0), at, { lastUsedStep: step })).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, code(-1), at, { lastUsedStep: step })).toBeNull();
    expect(verifyTotp(SEEDS.SHA1, code(1), at, { lastUsedStep: step })).toBe(step + 1);
  });
});

describe('base32 and otpauth URIs', () => {
  it('encodes the RFC 4648 test vectors (unpadded) and decodes them back', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
    expect(base32Decode('mzxw6ytboi======').toString()).toBe('foobar');
    expect(() => base32Decode('M1')).toThrow();
  });

  it('builds a URI authenticator apps read', () => {
    const uri = new URL(otpauthUri('Medfleet (Acme MSP)', 'ana@acme.example', SEEDS.SHA1));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Medfleet (Acme MSP):ana@acme.example');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
      issuer: 'Medfleet (Acme MSP)',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
