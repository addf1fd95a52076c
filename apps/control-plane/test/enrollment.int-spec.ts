// Enrollment over the real wire: an agent presents a site-scoped token over gRPC and gets an identity whose
// MQTT credentials work; every way a token can be unusable is refused with its own code, and the token
// itself is never shown again.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import mqtt from 'mqtt';
import { agentTopicPrefix, type EnrollRequest } from '@medfleet/contracts';
import { enrollmentClient } from './support/grpc-client.js';
import {
  connectAgent,
  createTenantSession,
  device,
  expectOk,
  type IssuedToken,
  type TenantSession,
} from './support/tenant-session.js';
import { realBroker, startTestControlPlane, type TestControlPlane } from './support/test-env.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let cp: TestControlPlane;
let session: TenantSession;
let other: TenantSession;
let grpc: ReturnType<typeof enrollmentClient>;

type EnrollInput = Partial<EnrollRequest> & { token: string };

/** The gRPC status and message of a refused enrollment; fails the test when it was accepted. */
async function refusal(request: EnrollInput): Promise<{ code: number; details: string }> {
  try {
    const accepted = await grpc.enroll(request);
    throw new Error(`enrollment was accepted: agent ${accepted.agentId}`);
  } catch (error) {
    const failure = error as ServiceError;
    if (typeof failure.code !== 'number') throw error;
    return { code: failure.code, details: failure.details };
  }
}

const tokenRecord = (id: string) => expectOk(session.api.get(`/enrollment-tokens/${id}`));

async function asOwner<T>(work: (owner: Awaited<ReturnType<TestControlPlane['owner']>>) => Promise<T>) {
  const owner = await cp.owner();
  try {
    return await work(owner);
  } finally {
    await owner.end();
  }
}

const expire = (tokenId: string) =>
  asOwner((owner) =>
    owner.query(`UPDATE enrollment_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
      tokenId,
    ]),
  );

beforeAll(async () => {
  cp = await startTestControlPlane({ AGENT_INVENTORY_INTERVAL_SEC: '123', AGENT_HEALTH_INTERVAL_SEC: '45' });
  session = await createTenantSession(cp, 'Enrollment Practice');
  await expectOk(session.api.patch(`/sites/${session.site.id}`, { timeZone: 'America/Chicago' }));
  other = await createTenantSession(cp, 'Other Practice');
  grpc = enrollmentClient(cp.grpcAddress);
});

afterAll(async () => {
  grpc?.close();
  await cp?.stop();
});

describe('a valid token', () => {
  let issued: IssuedToken;
  let identity: Awaited<ReturnType<typeof grpc.enroll>>;

  beforeAll(async () => {
    issued = await session.issueToken({ label: 'Front desk Pi', maxUses: 1 });
    identity = await grpc.enroll({
      token: issued.token,
      facts: {
        hostname: 'pi-front-desk',
        agentVersion: '1.2.3',
        os: 'linux',
        arch: 'arm64',
        serial: 'PI-0001',
        macAddresses: ['DC:A6:32:00:00:01'],
      },
    });
  });

  it('enrolls: agent id, tenant and site, MQTT credentials, config and the site time zone', () => {
    const { tenant, site } = session;
    expect(identity.agentId).toMatch(UUID);
    const address = { tenantId: tenant.id, siteId: site.id, agentId: identity.agentId };
    expect(identity).toEqual({
      agentId: identity.agentId,
      organizationId: tenant.organizationId,
      tenantId: tenant.id,
      siteId: site.id,
      certificatePem: '',
      caChainPem: [],
      mqtt: {
        url: cp.mqttUrl,
        clientId: identity.agentId,
        username: identity.agentId,
        password: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        topicPrefix: agentTopicPrefix(address),
        protocolVersion: realBroker ? 5 : 4,
      },
      config: { inventoryIntervalSec: 123, healthIntervalSec: 45 },
      siteTimeZone: 'America/Chicago',
      approvalState: 'approved',
      pollSecret: '',
      pollAfterSec: 0,
      grpcTlsAddress: cp.grpcTlsAddress,
      grpcServerCaPem: cp.grpcServerCaPem,
    });
    expect(identity.mqtt.topicPrefix).toBe(`medfleet/v1/t/${tenant.id}/s/${site.id}/a/${identity.agentId}`);
  });

  it('records the agent with its facts, and uses the token up', async () => {
    expect(await expectOk(session.api.get(`/agents/${identity.agentId}`))).toMatchObject({
      id: identity.agentId,
      tenantId: session.tenant.id,
      siteId: session.site.id,
      enrollmentTokenId: issued.id,
      hostname: 'pi-front-desk',
      agentVersion: '1.2.3',
      os: 'linux',
      arch: 'arm64',
      serial: 'PI-0001',
      macAddresses: ['dc:a6:32:00:00:01'],
      inventoryIntervalSec: 123,
      healthIntervalSec: 45,
      status: 'never_seen',
    });
    expect(await tokenRecord(issued.id)).toMatchObject({ uses: 1, maxUses: 1, state: 'exhausted' });
  });

  it('keeps only a hash of the MQTT password', async () => {
    const rows = await asOwner(
      async (owner) =>
        (
          await owner.query(
            `SELECT tenant_id, site_id, secret_hash FROM agent_credentials WHERE agent_id = $1`,
            [identity.agentId],
          )
        ).rows,
    );
    expect(rows).toEqual([
      {
        tenant_id: session.tenant.id,
        site_id: session.site.id,
        secret_hash: createHash('sha256').update(identity.mqtt.password).digest(),
      },
    ]);
  });

  it('gives MQTT credentials that really connect, publish under the prefix and get acked', async () => {
    const agent = await connectAgent(identity);
    try {
      await agent.publishInventory(1, [device(0x42)]);
      expect((await agent.waitForAck(1)).body.ackedSeq).toBe(1);
    } finally {
      await agent.close();
    }
    expect(await expectOk(session.api.get(`/agents/${identity.agentId}`))).toMatchObject({
      status: 'online',
      ackedSeq: 1,
    });

    if (!realBroker) {
      // The embedded broker checks the secret; the CI Mosquitto allows anonymous clients, so only here.
      const attempt = (options: mqtt.IClientOptions) =>
        mqtt.connectAsync(identity.mqtt.url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
      const refused = /Bad username or password|Not authorized|Identifier rejected/i;
      await expect(
        attempt({ clientId: identity.agentId, username: identity.agentId, password: 'wrong' }),
      ).rejects.toThrow(refused);
      await expect(
        attempt({
          clientId: identity.agentId,
          username: identity.agentId,
          password: randomBytes(32).toString('base64url'),
        }),
      ).rejects.toThrow(refused);
      // The right secret under another client id is refused too: client id = agent id.
      await expect(
        attempt({ clientId: 'someone-else', username: identity.agentId, password: identity.mqtt.password }),
      ).rejects.toThrow(refused);
    }
  });
});

describe('unusable tokens are refused with their own code', () => {
  it('expired → PERMISSION_DENIED TOKEN_EXPIRED, nothing used', async () => {
    const issued = await session.issueToken({ maxUses: 5 });
    await expire(issued.id);
    const refused = await refusal({ token: issued.token });
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^TOKEN_EXPIRED/);
    expect(await tokenRecord(issued.id)).toMatchObject({ uses: 0, state: 'expired' });
  });

  it('exhausted → PERMISSION_DENIED TOKEN_EXHAUSTED after maxUses enrollments', async () => {
    const single = await session.issueToken({ maxUses: 1 });
    await grpc.enroll({ token: single.token });
    const refused = await refusal({ token: single.token });
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^TOKEN_EXHAUSTED/);
    expect(await tokenRecord(single.id)).toMatchObject({ uses: 1, state: 'exhausted' });

    const double = await session.issueToken({ maxUses: 2 });
    await grpc.enroll({ token: double.token });
    expect(await tokenRecord(double.id)).toMatchObject({ uses: 1, state: 'active' });
    await grpc.enroll({ token: double.token });
    expect((await refusal({ token: double.token })).details).toMatch(/^TOKEN_EXHAUSTED/);
  });

  it('revoked through the API → PERMISSION_DENIED TOKEN_REVOKED', async () => {
    const issued = await session.issueToken({ maxUses: 5 });
    const revoked = await expectOk(session.api.post(`/enrollment-tokens/${issued.id}/revoke`));
    expect(revoked).toMatchObject({ id: issued.id, state: 'revoked', revokedAt: expect.any(String) });
    // Revoking again changes nothing.
    expect(await expectOk(session.api.post(`/enrollment-tokens/${issued.id}/revoke`))).toMatchObject({
      revokedAt: revoked.revokedAt,
    });
    const refused = await refusal({ token: issued.token });
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^TOKEN_REVOKED/);
    expect(await tokenRecord(issued.id)).toMatchObject({ uses: 0, state: 'revoked' });
  });

  it.each([
    ['empty', ''],
    ['garbage', 'let-me-in'],
    ['an API key', 'mfk_00000000-0000-4000-8000-000000000000_' + 'A'.repeat(43)],
    ['a bad tenant part', `mfe_not-a-tenant_${'A'.repeat(43)}`],
  ])('%s → UNAUTHENTICATED TOKEN_INVALID', async (_name, token) => {
    const refused = await refusal({ token });
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).toMatch(/^TOKEN_INVALID/);
  });

  it('a well-formed token with a guessed secret → TOKEN_INVALID', async () => {
    const refused = await refusal({
      token: `mfe_${session.tenant.id}_${randomBytes(32).toString('base64url')}`,
    });
    expect(refused).toEqual({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(/^TOKEN_INVALID/),
    });
  });

  it('a real token rewritten to name another tenant → TOKEN_INVALID, and the real one still works', async () => {
    const issued = await session.issueToken({ maxUses: 1 });
    const secret = issued.token.slice(`mfe_${session.tenant.id}_`.length);
    expect(issued.token).toBe(`mfe_${session.tenant.id}_${secret}`);
    for (const tenantId of [other.tenant.id, '00000000-0000-4000-8000-000000000000']) {
      const refused = await refusal({ token: `mfe_${tenantId}_${secret}` });
      expect(refused).toEqual({
        code: status.UNAUTHENTICATED,
        details: expect.stringMatching(/^TOKEN_INVALID/),
      });
    }
    expect(await tokenRecord(issued.id)).toMatchObject({ uses: 0, state: 'active' });
    expect(await grpc.enroll({ token: issued.token })).toMatchObject({ tenantId: session.tenant.id });
  });

  it.each([0, 2])(
    'protocol version %i → FAILED_PRECONDITION UNSUPPORTED_PROTOCOL_VERSION',
    async (version) => {
      const issued = await session.issueToken();
      const refused = await refusal({ token: issued.token, protocolVersion: version });
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.details).toMatch(/^UNSUPPORTED_PROTOCOL_VERSION/);
      expect(await tokenRecord(issued.id)).toMatchObject({ uses: 0, state: 'active' });
    },
  );

  it('facts with a malformed MAC → INVALID_ARGUMENT INVALID_FACTS, nothing used', async () => {
    const issued = await session.issueToken();
    const refused = await refusal({
      token: issued.token,
      facts: {
        hostname: 'h',
        agentVersion: '1',
        os: 'linux',
        arch: 'x64',
        serial: 'S',
        macAddresses: ['nope'],
      },
    });
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toMatch(/^INVALID_FACTS/);
    expect(await tokenRecord(issued.id)).toMatchObject({ uses: 0 });
  });
});

describe('concurrent enrollments', () => {
  const agentsEnrolledWith = (tokenId: string) =>
    asOwner(
      async (owner) =>
        (await owner.query(`SELECT count(*)::int AS n FROM agents WHERE enrollment_token_id = $1`, [tokenId]))
          .rows[0].n as number,
    );

  it.each([
    [1, 2],
    [3, 8],
  ])(
    'a token with maxUses=%i used %i times at once enrolls exactly maxUses agents',
    async (maxUses, attempts) => {
      const issued = await session.issueToken({ maxUses });
      const clients = Array.from({ length: attempts }, () => enrollmentClient(cp.grpcAddress));
      try {
        const results = await Promise.allSettled(
          clients.map((client) => client.enroll({ token: issued.token })),
        );
        const accepted = results.filter((r) => r.status === 'fulfilled');
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(accepted).toHaveLength(maxUses);
        expect(refused.map((r) => (r.reason as ServiceError).details.split(':')[0])).toEqual(
          Array(attempts - maxUses).fill('TOKEN_EXHAUSTED'),
        );
        const agentIds = accepted.map(
          (r) => (r as PromiseFulfilledResult<{ agentId: string }>).value.agentId,
        );
        expect(new Set(agentIds).size).toBe(maxUses);
      } finally {
        for (const client of clients) client.close();
      }
      expect(await tokenRecord(issued.id)).toMatchObject({ uses: maxUses, state: 'exhausted' });
      expect(await agentsEnrolledWith(issued.id)).toBe(maxUses);
    },
  );
});

describe('the token list', () => {
  it('shows each token’s state and never the token or its hash', async () => {
    const site = await session.createSite({ name: 'Token List Annex' });
    const issue = (options: Record<string, unknown> = {}) =>
      session.issueToken({ siteId: site.id, ...options });
    const active = await issue({ maxUses: 3, label: 'active one' });
    const expired = await issue();
    await expire(expired.id);
    const exhausted = await issue({ maxUses: 1 });
    await grpc.enroll({ token: exhausted.token });
    const revoked = await issue();
    await expectOk(session.api.post(`/enrollment-tokens/${revoked.id}/revoke`));

    const page = await expectOk(session.api.get(`/enrollment-tokens?siteId=${site.id}`));
    const states = Object.fromEntries(page.items.map((t: { id: string; state: string }) => [t.id, t.state]));
    expect(states).toEqual({
      [active.id]: 'active',
      [expired.id]: 'expired',
      [exhausted.id]: 'exhausted',
      [revoked.id]: 'revoked',
    });
    expect(page.items.find((t: { id: string }) => t.id === active.id)).toMatchObject({
      tenantId: session.tenant.id,
      siteId: site.id,
      label: 'active one',
      maxUses: 3,
      uses: 0,
      createdBy: expect.stringMatching(/^api_key:/),
    });

    const issuedTokens = [active, expired, exhausted, revoked];
    const secrets = issuedTokens.flatMap(({ token }) => {
      const hash = createHash('sha256').update(token).digest();
      // mfe_<tenant uuid>_<secret>: the secret itself may contain underscores.
      const secret = token.slice('mfe_'.length + 36 + 1);
      return [token, secret, hash.toString('hex'), hash.toString('base64')];
    });
    const answers = [
      page,
      ...(await Promise.all(issuedTokens.map(({ id }) => tokenRecord(id)))),
      await expectOk(session.api.get(`/enrollment-tokens?tenantId=${session.tenant.id}&limit=500`)),
      await expectOk(session.api.post(`/enrollment-tokens/${revoked.id}/revoke`)),
    ];
    for (const answer of answers) {
      const text = JSON.stringify(answer);
      expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
      expect(text).not.toMatch(/"token"|tokenHash|token_hash/);
    }
  });
});
