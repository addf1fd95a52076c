/** An agent's key pair and PKCS#10 request, made the way a real agent makes them (ECDSA P-256). */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface AgentKey {
  keys: webcrypto.CryptoKeyPair;
  privateKeyPem: string;
  csrPem: string;
}

export async function newAgentKey(commonName = 'medfleet-agent'): Promise<AgentKey> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'],
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    keys,
    privateKeyPem: x509.PemConverter.encode(der, 'PRIVATE KEY'),
    csrPem: csr.toString('pem'),
  };
}

/** Mutual-TLS material of an enrolled agent, as its gRPC client uses it. */
export interface AgentTls {
  address: string;
  serverCaPem: string;
  privateKeyPem: string;
  /** The agent's certificate followed by its organization's CA, so the server can chain it to the root. */
  certificateChainPem: string;
}

/** Agents enrolled through the test support, by id: AgentSync clients pick their certificate from here. */
export const enrolledAgentTls = new Map<string, AgentTls>();
