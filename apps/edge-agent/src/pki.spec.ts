import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsrPem, generatePrivateKeyPem, renewalDue, renewalTime } from './pki.js';

/** Reads one DER element at `at`: its tag, where its content starts and ends. */
function element(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i += 1) length = (length << 8) | (der[start + i] as number);
    start += bytes;
  }
  return { tag, start, end: start + length };
}

/** The signed part, the signature and the public key (SPKI DER) of a PKCS#10 request. */
function readCsr(pem: string) {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const outer = element(der, 0);
  const info = element(der, outer.start);
  const algorithm = element(der, info.end);
  const bitString = element(der, algorithm.end);
  const version = element(der, info.start);
  const subject = element(der, version.end);
  const spki = element(der, subject.end);
  return {
    info: der.subarray(outer.start, info.end),
    signature: der.subarray(bitString.start + 1, bitString.end),
    spki: der.subarray(subject.end, spki.end),
    subject: der.subarray(subject.start, subject.end),
    algorithm: der.subarray(algorithm.start, algorithm.end),
  };
}

describe('agent key pair and CSR', () => {
  it('makes an ECDSA P-256 key, and a CSR for its public half signed with it', () => {
    const keyPem = generatePrivateKeyPem();
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const csrPem = createCsrPem(keyPem, 'medfleet-agent pi-front-desk');
    expect(csrPem).toMatch(
      /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/,
    );
    const csr = readCsr(csrPem);
    // ecdsa-with-SHA256
    expect(csr.algorithm.toString('hex')).toBe('06082a8648ce3d040302');
    expect(csr.subject.toString('utf8')).toContain('medfleet-agent pi-front-desk');
    const publicKey = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
    expect(publicKey.export({ format: 'der', type: 'spki' })).toEqual(
      createPublicKey(key).export({ format: 'der', type: 'spki' }),
    );
    expect(verify('sha256', csr.info, publicKey, csr.signature)).toBe(true);
    // The private key itself is nowhere in the request.
    expect(csrPem).not.toContain(keyPem.split('\n')[1] as string);
  });

  it('a changed byte in the signed part no longer verifies', () => {
    const keyPem = generatePrivateKeyPem();
    const csr = readCsr(createCsrPem(keyPem, 'medfleet-agent'));
    const tampered = Buffer.from(csr.info);
    tampered[tampered.indexOf(Buffer.from('medfleet'))] = 'M'.charCodeAt(0);
    const publicKey = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
    expect(verify('sha256', tampered, publicKey, csr.signature)).toBe(false);
  });

  it('encodes long names with multi-byte DER lengths', () => {
    const keyPem = generatePrivateKeyPem();
    const csr = readCsr(createCsrPem(keyPem, `medfleet-agent ${'x'.repeat(300)}`));
    const publicKey = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
    expect(verify('sha256', csr.info, publicKey, csr.signature)).toBe(true);
  });

  it('makes a new key each time', () => {
    expect(generatePrivateKeyPem()).not.toBe(generatePrivateKeyPem());
  });
});

describe('renewal timing', () => {
  const times = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-01-31T00:00:00Z') };

  it('is due once less than a third of the lifetime is left', () => {
    expect(renewalTime(times).toISOString()).toBe('2026-01-21T00:00:00.000Z');
    expect(renewalDue(times, new Date('2026-01-20T23:59:59Z'))).toBe(false);
    expect(renewalDue(times, new Date('2026-01-21T00:00:01Z'))).toBe(true);
    expect(renewalDue(times, new Date('2026-02-15T00:00:00Z'))).toBe(true);
  });
});
