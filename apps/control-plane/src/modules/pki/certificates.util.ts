/**
 * The X.509 work of the agent PKI, without storage: key pairs, the root and organization CAs, agent and
 * gRPC server certificates, and the checks on an agent's certificate signing request.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { AGENT_CERT_URI } from '@medfleet/contracts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** A CSR is a few hundred bytes; anything much larger is not one. */
const MAX_CSR_BYTES = 16 * 1024;
const ACCEPTED_CURVES = ['P-256', 'P-384'];

export interface KeyedCertificate {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
}

export class CsrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsrError';
  }
}

export async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return (await webcrypto.subtle.importKey('pkcs8', der, EC_KEY, true, ['sign'])) as CryptoKey;
}

/** PEM text ending in a newline, so that certificates can be concatenated into a chain. */
const pem = (certificate: x509.X509Certificate): string => `${certificate.toString('pem').trimEnd()}\n`;

/** A positive serial of 128 random bits, as hex. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

async function caCertificate(
  name: string,
  keys: CryptoKeyPair,
  issuer: KeyedCertificate | null,
  years: number,
  pathLength: number,
): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(Date.now() + years * 365 * DAY_MS);
  if (!issuer) {
    return x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: newSerial(),
      name,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGNING,
      extensions,
    });
  }
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey));
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: name,
    issuer: issuer.certificate.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.privateKey,
    signingAlgorithm: SIGNING,
    extensions,
  });
}

/** The deployment's root: it signs the organization CAs and the gRPC server certificate. */
export async function createRootCa(): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const keys = await newKeyPair();
  const certificate = await caCertificate(
    `CN=Medfleet agent root CA ${randomBytes(4).toString('hex')}`,
    keys,
    null,
    20,
    1,
  );
  return {
    certificatePem: pem(certificate),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
  };
}

export async function createOrganizationCa(
  root: KeyedCertificate,
  organizationId: string,
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const keys = await newKeyPair();
  const certificate = await caCertificate(
    `CN=Medfleet organization CA ${organizationId}, O=${organizationId}`,
    keys,
    root,
    10,
    0,
  );
  return {
    certificatePem: pem(certificate),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
  };
}

/**
 * Reads a PEM PKCS#10 request and checks its self-signature, which proves the requester holds the private
 * key. Only EC keys on P-256 or P-384 are accepted.
 */
export async function verifiedCsrPublicKey(pem: string): Promise<x509.PublicKey> {
  if (Buffer.byteLength(pem, 'utf8') > MAX_CSR_BYTES) throw new CsrError('the CSR is too large');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new CsrError('csrPem is not a PEM PKCS#10 certificate signing request');
  }
  const algorithm = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || !ACCEPTED_CURVES.includes(algorithm.namedCurve)) {
    throw new CsrError('the CSR key must be an ECDSA key on P-256 or P-384');
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrError('the CSR signature does not verify (altered, or not signed by its key)');
  return csr.publicKey;
}

export interface AgentCertificateSubject {
  agentId: string;
  tenantId: string;
  organizationId: string;
}

export interface IssuedCertificate {
  certificatePem: string;
  serial: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

function described(certificate: x509.X509Certificate): IssuedCertificate {
  const text = pem(certificate);
  const node = new NodeX509Certificate(text);
  return {
    certificatePem: text,
    serial: certificate.serialNumber.toLowerCase(),
    fingerprintSha256: node.fingerprint256.replaceAll(':', '').toLowerCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}

/** A client certificate for an agent: its ids in the subject and as URIs in the subjectAltName. */
export async function issueAgentCertificate(
  organizationCa: KeyedCertificate,
  publicKey: x509.PublicKey,
  subject: AgentCertificateSubject,
  lifetimeSec: number,
): Promise<IssuedCertificate> {
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=${subject.agentId}, OU=${subject.tenantId}, O=${subject.organizationId}`,
    issuer: organizationCa.certificate.subject,
    // Slack for agents whose clock runs behind, small beside the lifetime: agents renew by the fraction
    // of notBefore..notAfter left, so a large backdate would make a short-lived certificate due at once.
    notBefore: new Date(Date.now() - Math.min(5 * 60_000, lifetimeSec * 100)),
    notAfter: new Date(Date.now() + lifetimeSec * 1000),
    publicKey,
    signingKey: organizationCa.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `${AGENT_CERT_URI.agent}${subject.agentId}` },
        { type: 'url', value: `${AGENT_CERT_URI.tenant}${subject.tenantId}` },
        { type: 'url', value: `${AGENT_CERT_URI.organization}${subject.organizationId}` },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(organizationCa.certificate.publicKey),
    ],
  });
  return described(certificate);
}

/** The gRPC endpoint's own certificate, for the given host names and addresses. */
export async function issueServerCertificate(
  root: KeyedCertificate,
  hosts: readonly string[],
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const keys = await newKeyPair();
  const names = [...new Set(hosts.filter((host) => host.length > 0))].map((host) => ({
    type: isIP(host) ? ('ip' as const) : ('dns' as const),
    value: host,
  }));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=${names[0]?.value ?? 'localhost'}`,
    issuer: root.certificate.subject,
    notBefore: new Date(Date.now() - 5 * 60_000),
    notAfter: new Date(Date.now() + 365 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: root.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(root.certificate.publicKey),
    ],
  });
  return {
    certificatePem: pem(certificate),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
  };
}

export async function keyedCertificate(
  certificatePem: string,
  privateKeyPem: string,
): Promise<KeyedCertificate> {
  return {
    certificate: new x509.X509Certificate(certificatePem),
    privateKey: await privateKeyFromPem(privateKeyPem),
  };
}

/** The agent, tenant and organization ids an agent certificate names in its subjectAltName. */
export function agentCertificateNames(certificate: NodeX509Certificate): AgentCertificateSubject | null {
  const uris = (certificate.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
  const pick = (prefix: string) => {
    const found = uris.filter((uri) => uri.startsWith(prefix));
    return found.length === 1 ? (found[0] as string).slice(prefix.length) : null;
  };
  const agentId = pick(AGENT_CERT_URI.agent);
  const tenantId = pick(AGENT_CERT_URI.tenant);
  const organizationId = pick(AGENT_CERT_URI.organization);
  return agentId && tenantId && organizationId ? { agentId, tenantId, organizationId } : null;
}
