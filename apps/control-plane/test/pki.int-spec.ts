// The agent PKI over the real wire: a CSR signed by the agent's key is answered with a certificate from
// its organization's CA; a tampered CSR is refused; AgentSync and renewal need mutual TLS with a certificate
// of the right organization, for the agent the request names, not revoked; renewal yields a new certificate.
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import type { EnrollResponse, InventoryChunk } from '@medfleet/contracts';
import { agentSyncClient } from './support/agent-sync-client.js';
import { enrolledAgentTls, newAgentKey, type AgentKey, type AgentTls } from './support/agent-pki.js';
import { enrollmentClient } from './support/grpc-client.js';
import {
  createTenantSession,
  device,
  expectOk,
  type EnrolledAgent,
  type TenantSession,
} from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;
let grpc: ReturnType<typeof enrollmentClient>;
let agent: EnrolledAgent;
let tls: AgentTls;
let seq = 0;

const LIFETIME_SEC = 3600;

async function grpcFailure(call: () => Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call();
  } catch (error) {
    const failure = error as ServiceError;
    if (typeof failure.code === 'number') return { code: failure.code, details: failure.details };
    throw error;
  }
  throw new Error('the call was accepted');
}

const chunk = (identity: EnrollResponse): InventoryChunk => ({
  agentId: identity.agentId,
  agentSecret: identity.mqtt.password,
  seq: ++seq,
  chunkIndex: 0,
  last: true,
  devicesJson: Buffer.from(JSON.stringify([device(seq)])),
  sentAt: new Date().toISOString(),
});

async function upload(identity: EnrollResponse, material?: AgentTls, address = cp.grpcAddress) {
  const client = agentSyncClient(address, material);
  try {
    return await client.upload([chunk(identity)]);
  } finally {
    client.close();
  }
}

/** A CSR with one byte of its subject changed after signing. */
function tampered(csrPem: string): string {
  const der = Buffer.from(x509.PemConverter.decodeFirst(csrPem));
  const at = der.indexOf(Buffer.from('medfleet-agent'));
  if (at < 0) throw new Error('subject not found in the CSR');
  der[at] = 'M'.charCodeAt(0);
  return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
}

/** A CA nobody trusts that issues a certificate naming the given agent, tenant and organization. */
async function rogueCertificate(identity: EnrollResponse, key: AgentKey): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caKeys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as never;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=Medfleet organization CA ${identity.organizationId}, O=${identity.organizationId}`,
    keys: caKeys,
    signingAlgorithm: algorithm,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const leaf = await x509.X509CertificateGenerator.create({
    subject: `CN=${identity.agentId}`,
    issuer: ca.subject,
    publicKey: key.keys.publicKey as never,
    signingKey: (caKeys as { privateKey: never }).privateKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `urn:medfleet:agent:${identity.agentId}` },
        { type: 'url', value: `urn:medfleet:tenant:${identity.tenantId}` },
        { type: 'url', value: `urn:medfleet:organization:${identity.organizationId}` },
      ]),
    ],
  });
  return `${leaf.toString('pem')}\n${ca.toString('pem')}\n`;
}

beforeAll(async () => {
  cp = await startTestControlPlane({ AGENT_CERT_LIFETIME_SEC: String(LIFETIME_SEC) });
  session = await createTenantSession(cp, 'PKI Practice');
  grpc = enrollmentClient(cp.grpcAddress);
  agent = await session.enrollAgent();
  tls = enrolledAgentTls.get(agent.identity.agentId) as AgentTls;
});

afterAll(async () => {
  await agent?.close();
  grpc?.close();
  await cp?.stop();
});

describe('certificates from the organization CA', () => {
  it('signs the CSR: agent, tenant and organization named, chained to the organization CA and the root', () => {
    const { identity } = agent;
    const leaf = new X509Certificate(identity.certificatePem);
    const [orgCaPem, rootPem] = identity.caChainPem as [string, string];
    const orgCa = new X509Certificate(orgCaPem);
    const root = new X509Certificate(rootPem);
    expect(leaf.subject).toContain(`CN=${identity.agentId}`);
    expect(leaf.subjectAltName).toBe(
      `URI:urn:medfleet:agent:${identity.agentId}, URI:urn:medfleet:tenant:${identity.tenantId}, ` +
        `URI:urn:medfleet:organization:${identity.organizationId}`,
    );
    expect(leaf.checkIssued(orgCa) && leaf.verify(orgCa.publicKey)).toBe(true);
    expect(orgCa.checkIssued(root) && orgCa.verify(root.publicKey)).toBe(true);
    expect(orgCa.subject).toContain(identity.organizationId);
    expect(orgCa.ca && root.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    const lifetime = (Date.parse(leaf.validTo) - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(LIFETIME_SEC - 120);
    expect(lifetime).toBeLessThanOrEqual(LIFETIME_SEC + 1);
    expect(identity.grpcTlsAddress).toBe(cp.grpcTlsAddress);
    expect(identity.grpcServerCaPem).toBe(rootPem);
  });

  it('one CA per organization: a second agent of another tenant of it gets the same one', async () => {
    const sibling = await createTenantSession(cp, 'PKI Sibling Practice');
    const second = await sibling.enrollAgent();
    try {
      expect(second.identity.caChainPem).toEqual(agent.identity.caChainPem);
    } finally {
      await second.close();
    }
  });

  it('keeps the CA private keys sealed, never in clear, and the sealing key outside the database (0600)', async () => {
    const owner = await cp.owner();
    try {
      const { rows } = await owner.query(
        `SELECT kind, organization_id, private_key_sealed FROM certificate_authorities ORDER BY kind`,
      );
      expect(rows.map((row) => row.kind)).toEqual(['organization', 'root']);
      for (const row of rows) {
        expect(row.private_key_sealed).toMatch(/^v1:[A-Za-z0-9_-]+$/);
        expect(row.private_key_sealed).not.toContain('PRIVATE KEY');
      }
    } finally {
      await owner.end();
    }
    const keyFile = path.join(cp.config.DATA_DIR, 'pki', 'ca-key-encryption.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it('a tampered CSR → INVALID_ARGUMENT CSR_INVALID, the token not used', async () => {
    const issued = await session.issueToken();
    const key = await newAgentKey();
    const refused = await grpcFailure(() =>
      grpc.enroll({ token: issued.token, csrPem: tampered(key.csrPem) }),
    );
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toMatch(/^CSR_INVALID: the CSR signature does not verify/);
    expect(await expectOk(session.api.get(`/enrollment-tokens/${issued.id}`))).toMatchObject({ uses: 0 });
    // The untouched CSR enrolls with the same token.
    const identity = await grpc.enroll({ token: issued.token, csrPem: key.csrPem });
    expect(identity.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('garbage in csrPem → INVALID_ARGUMENT CSR_INVALID', async () => {
    const token = await session.createToken();
    for (const csrPem of [
      'not a csr',
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
    ]) {
      const refused = await grpcFailure(() => grpc.enroll({ token, csrPem }));
      expect(refused.code).toBe(status.INVALID_ARGUMENT);
      expect(refused.details).toMatch(/^CSR_INVALID/);
    }
  });
});

describe('AgentSync needs mutual TLS', () => {
  it('works with the agent’s own certificate', async () => {
    const receipt = await upload(agent.identity, tls);
    expect(receipt).toMatchObject({ devicesAccepted: 1, duplicate: false });
  });

  it('over TLS without a client certificate → UNAUTHENTICATED CLIENT_CERTIFICATE_REQUIRED', async () => {
    const refused = await grpcFailure(() =>
      upload(agent.identity, { ...tls, privateKeyPem: '', certificateChainPem: '' }),
    );
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).toMatch(/^CLIENT_CERTIFICATE_REQUIRED/);
  });

  it('over plaintext, even with the right secret → UNAUTHENTICATED CLIENT_CERTIFICATE_REQUIRED', async () => {
    const client = agentSyncClient(cp.grpcAddress);
    try {
      const refused = await grpcFailure(() => client.upload([{ ...chunk(agent.identity), agentId: 'x' }]));
      expect(refused.code).toBe(status.UNAUTHENTICATED);
      expect(refused.details).toMatch(/^CLIENT_CERTIFICATE_REQUIRED/);
    } finally {
      client.close();
    }
  });

  it('with a certificate from a CA that is not the organization’s → refused', async () => {
    const key = await newAgentKey();
    const rogue = await rogueCertificate(agent.identity, key);
    const refused = await grpcFailure(() =>
      upload(agent.identity, { ...tls, privateKeyPem: key.privateKeyPem, certificateChainPem: rogue }),
    );
    // The TLS layer does not chain it to the root, so the call sees no client certificate at all.
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).toMatch(/^CLIENT_CERTIFICATE_REQUIRED/);
  });

  it('with another organization’s agent certificate, naming this agent → PERMISSION_DENIED CERTIFICATE_MISMATCH', async () => {
    const { OrganizationService } = await import('../src/modules/organizations/organization.service.js');
    const outsider = await cp.app
      .get(OrganizationService)
      .create('PKI Outsider MSP', `pki-outsider-${Date.now()}`);
    const foreign = await createTenantSession(cp, 'PKI Outsider Practice', { apiKey: outsider.apiKey.token });
    const intruder = await foreign.enrollAgent();
    try {
      expect(intruder.identity.caChainPem[0]).not.toBe(agent.identity.caChainPem[0]);
      const intruderTls = enrolledAgentTls.get(intruder.identity.agentId) as AgentTls;
      const refused = await grpcFailure(() => upload(agent.identity, intruderTls));
      expect(refused.code).toBe(status.PERMISSION_DENIED);
      expect(refused.details).toMatch(/^CERTIFICATE_MISMATCH/);
    } finally {
      await intruder.close();
    }
  });

  it('with a revoked agent’s certificate → UNAUTHENTICATED AGENT_REVOKED', async () => {
    const doomed = await session.enrollAgent();
    const doomedTls = enrolledAgentTls.get(doomed.identity.agentId) as AgentTls;
    try {
      await expect(upload(doomed.identity, doomedTls)).resolves.toMatchObject({ devicesAccepted: 1 });
      await expectOk(session.api.post(`/agents/${doomed.identity.agentId}/revoke`));
      const refused = await grpcFailure(() => upload(doomed.identity, doomedTls));
      expect(refused.code).toBe(status.UNAUTHENTICATED);
      expect(refused.details).toMatch(/^AGENT_REVOKED/);
    } finally {
      await doomed.close();
    }
  });
});

describe('RenewCertificate', () => {
  const renewer = (material?: AgentTls) =>
    enrollmentClient(
      material?.address ?? cp.grpcTlsAddress,
      material ?? { serverCaPem: cp.grpcServerCaPem ?? '' },
    );

  it('issues a new certificate for a new key over mutual TLS, which then works', async () => {
    const client = renewer(tls);
    const key = await newAgentKey();
    try {
      const renewed = await client.renew({ agentId: agent.identity.agentId, csrPem: key.csrPem });
      const before = new X509Certificate(agent.identity.certificatePem);
      const after = new X509Certificate(renewed.certificatePem);
      expect(after.serialNumber).not.toBe(before.serialNumber);
      expect(after.subjectAltName).toBe(before.subjectAltName);
      expect(after.publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(
        before.publicKey.export({ format: 'der', type: 'spki' }),
      );
      expect(renewed.caChainPem).toEqual(agent.identity.caChainPem);
      const renewedTls = {
        ...tls,
        privateKeyPem: key.privateKeyPem,
        certificateChainPem: `${renewed.certificatePem}${renewed.caChainPem[0]}`,
      };
      await expect(upload(agent.identity, renewedTls)).resolves.toMatchObject({ devicesAccepted: 1 });
    } finally {
      client.close();
    }
  });

  it('without a client certificate, or over plaintext → UNAUTHENTICATED CLIENT_CERTIFICATE_REQUIRED', async () => {
    const key = await newAgentKey();
    for (const client of [renewer(), enrollmentClient(cp.grpcAddress)]) {
      try {
        const refused = await grpcFailure(() =>
          client.renew({ agentId: agent.identity.agentId, csrPem: key.csrPem }),
        );
        expect(refused.code).toBe(status.UNAUTHENTICATED);
        expect(refused.details).toMatch(/^CLIENT_CERTIFICATE_REQUIRED/);
      } finally {
        client.close();
      }
    }
  });

  it('for another agent than the certificate’s → PERMISSION_DENIED CERTIFICATE_MISMATCH', async () => {
    const other = await session.enrollAgent();
    const client = renewer(tls);
    try {
      const key = await newAgentKey();
      const refused = await grpcFailure(() =>
        client.renew({ agentId: other.identity.agentId, csrPem: key.csrPem }),
      );
      expect(refused.code).toBe(status.PERMISSION_DENIED);
      expect(refused.details).toMatch(/^CERTIFICATE_MISMATCH/);
    } finally {
      client.close();
      await other.close();
    }
  });

  it('with a tampered CSR → INVALID_ARGUMENT CSR_INVALID', async () => {
    const client = renewer(tls);
    try {
      const key = await newAgentKey();
      const refused = await grpcFailure(() =>
        client.renew({ agentId: agent.identity.agentId, csrPem: tampered(key.csrPem) }),
      );
      expect(refused.code).toBe(status.INVALID_ARGUMENT);
      expect(refused.details).toMatch(/^CSR_INVALID/);
    } finally {
      client.close();
    }
  });
});
