// Sign-in limits that need a control plane of their own: the per-address rate limit on every sign-in step
// (password spraying across accounts never reaches them), and configured session lifetimes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from './support/api-client.js';
import { createUser, type TestUser } from './support/identity-session.js';
import { createTenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let anonymous: ApiClient;
let users: TestUser[];

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '4',
    SESSION_IDLE_TIMEOUT_SEC: '300',
    SESSION_ABSOLUTE_TIMEOUT_SEC: '3600',
  });
  anonymous = new ApiClient(cp.httpUrl, null);
  const practice = await createTenantSession(cp, 'Throttle Practice');
  users = [];
  for (let i = 0; i < 3; i++)
    users.push(await createUser(cp, 'practice_viewer', { tenantId: practice.tenant.id }));
});

afterAll(async () => {
  await cp?.stop();
});

describe('sign-in rate limit per client address', () => {
  it('honours the configured session lifetimes', async () => {
    const before = Date.now();
    const answer = await anonymous.post('/auth/login', {
      organization: 'default',
      email: users[0]?.email,
      password: users[0]?.password,
    });
    expect(answer.body).toMatchObject({ status: 'signed_in', session: { idleTimeoutSeconds: 300 } });
    const expiresAt = new Date(answer.body.session.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
  });

  it('refuses further attempts from the address with 429 and Retry-After, whatever the account or step', async () => {
    // One attempt of the burst of 4 was used above; spraying one password over the accounts uses the rest.
    for (const user of users) {
      expect(
        (
          await anonymous.post('/auth/login', {
            organization: 'default',
            email: user.email,
            password: 'Spring2026!!x',
          })
        ).status,
      ).toBe(401);
    }
    const refused = await fetch(`${cp.httpUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: 'default', email: users[1]?.email, password: users[1]?.password }),
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({
      error: { code: 'RATE_LIMITED', details: { retryAfterSeconds: expect.any(Number) } },
    });
    expect(await anonymous.post('/auth/mfa/verify', { mfaToken: 'mfm_x', code: '123456' })).toMatchObject({
      status: 429,
    });
    expect(await anonymous.get('/auth/oidc/default/start')).toMatchObject({ status: 429 });
    // The refused attempts never reached the accounts.
    const owner = await cp.owner();
    try {
      const { rows } = await owner.query(
        `SELECT failed_attempts FROM users WHERE id = ANY($1::uuid[]) ORDER BY email`,
        [users.map((user) => user.id)],
      );
      expect(rows.map((row: { failed_attempts: number }) => row.failed_attempts).sort()).toEqual([1, 1, 1]);
    } finally {
      await owner.end();
    }
  });

  it('leaves authenticated routes alone', async () => {
    expect((await new ApiClient(cp.httpUrl, cp.apiKey).get('/tenants')).status).toBe(200);
  });
});
