/**
 * The agent's own key pair and its certificate signing request. The private key is made here and never
 * leaves the box; the control plane only ever sees the CSR, which proves the agent holds the key.
 * The PKCS#10 request is encoded by hand (a few DER structures) so the agent needs no X.509 library.
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';

/** A fresh ECDSA P-256 key pair; the private key as PKCS#8 PEM. */
export function generatePrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const der = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};

const SEQUENCE = 0x30;
const SET = 0x31;
/** 2.5.4.3, commonName */
const OID_COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
/** 1.2.840.10045.4.3.2, ecdsa-with-SHA256 */
const OID_ECDSA_SHA256 = Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);

/** A PEM PKCS#10 request for the key's public half, subject CN=`commonName`, signed with the key. */
export function createCsrPem(privateKeyPem: string, commonName: string): string {
  const privateKey = createPrivateKey(privateKeyPem);
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const subject = der(
    SEQUENCE,
    der(SET, der(SEQUENCE, OID_COMMON_NAME, der(0x0c, Buffer.from(commonName, 'utf8')))),
  );
  const info = der(
    SEQUENCE,
    Buffer.from([0x02, 0x01, 0x00]), // version 0
    subject,
    spki,
    Buffer.from([0xa0, 0x00]), // no attributes
  );
  // Node signs EC keys in DER (r, s) form, which is what X.509 expects.
  const signature = sign('sha256', info, privateKey);
  const request = der(
    SEQUENCE,
    info,
    der(SEQUENCE, OID_ECDSA_SHA256),
    der(0x03, Buffer.from([0x00]), signature),
  );
  const base64 = request.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64.trimEnd()}\n-----END CERTIFICATE REQUEST-----\n`;
}

export interface CertificateTimes {
  notBefore: Date;
  notAfter: Date;
}

export function certificateTimes(certificatePem: string): CertificateTimes {
  const certificate = new X509Certificate(certificatePem);
  return { notBefore: new Date(certificate.validFrom), notAfter: new Date(certificate.validTo) };
}

/** Renew once less than a third of the certificate's lifetime is left (or it already expired). */
export function renewalDue(times: CertificateTimes, now: Date): boolean {
  const lifetime = times.notAfter.getTime() - times.notBefore.getTime();
  return times.notAfter.getTime() - now.getTime() < lifetime / 3;
}

/** When renewal becomes due. */
export function renewalTime(times: CertificateTimes): Date {
  const lifetime = times.notAfter.getTime() - times.notBefore.getTime();
  return new Date(times.notAfter.getTime() - lifetime / 3);
}

/** Whether the certificate is for this private key. */
export function certificateMatchesKey(certificatePem: string, privateKeyPem: string): boolean {
  const fromCertificate = new X509Certificate(certificatePem).publicKey.export({
    type: 'spki',
    format: 'der',
  });
  const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
  return Buffer.compare(fromCertificate, fromKey) === 0;
}
