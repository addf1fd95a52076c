// Identity over HTTP: password and TOTP sign-in, mandatory MFA for MSP roles, lockout, sessions that end at
// once, personal tokens, user management within role limits, and the scopes that signed-in people get —
// against the real database (row-level security included) with the identity clock moved instead of waiting.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdentityClock } from '../src/modules/identity/identity-clock.js';
import { base32Decode } from '../src/modules/identity/totp.util.js';
import { asApp, beginAsApp, selectAsApp, INSUFFICIENT_PRIVILEGE } from './support/app-role.js';
import { ApiClient } from './support/api-client.js';
import {
  createUser,
  newPassword,
  personalTokenOf,
  signIn,
  signInAs,
  totpCode,
  type SignedInUser,
  type TestUser,
} from './support/identity-session.js';
import { createTenantSession, expectOk, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let owner: pg.Client;
let anonymous: ApiClient;
let admin: ApiClient;
let practiceA: TenantSession;
let practiceB: TenantSession;
let clockOffsetMs = 0;

const expectError = (status: number, code: string) => ({ status, body: { error: { code } } });

/** Moves the identity clock (sessions, lockout, TOTP steps, token expiry) forward. */
function advance(ms: number): void {
  clockOffsetMs += ms;
}

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
  });
  owner = await cp.owner();
  const clock = cp.app.get(IdentityClock);
  const realNow = clock.now.bind(clock);
  vi.spyOn(clock, 'now').mockImplementation(() => new Date(realNow().getTime() + clockOffsetMs));
  anonymous = new ApiClient(cp.httpUrl, null);
  admin = new ApiClient(cp.httpUrl, cp.apiKey);
  practiceA = await createTenantSession(cp, 'Identity Practice A');
  practiceB = await createTenantSession(cp, 'Identity Practice B');
});

afterAll(async () => {
  vi.restoreAllMocks();
  await owner?.end();
  await cp?.stop();
});

afterEach(() => {
  // Keep later TOTP codes in fresh time steps, so replay protection never trips a test by accident.
  advance(31_000);
});

const login = (user: TestUser, extra: Record<string, unknown> = {}) =>
  anonymous.post('/auth/login', {
    organization: 'default',
    email: user.email,
    password: user.password,
    ...extra,
  });

async function auditActions(targetId: string): Promise<string[]> {
  const { rows } = await owner.query(
    `SELECT action FROM audit_entries WHERE target_id = $1 OR actor_id = $1 ORDER BY occurred_at, seq`,
    [targetId],
  );
  return rows.map((row: { action: string }) => row.action);
}

describe('password sign-in', () => {
  it('signs a practice user in without MFA and answers a working mfs_ session', async () => {
    const user = await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    const answer = await login(user);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: 'signed_in',
      session: { token: expect.stringMatching(/^mfs_/), idleTimeoutSeconds: 900 },
      user: { id: user.id, role: 'practice_viewer', tenantId: practiceA.tenant.id, mfaEnrolled: false },
    });
    expect(JSON.stringify(answer.body)).not.toMatch(/argon2|passwordHash/);
    const me = await expectOk(new ApiClient(cp.httpUrl, answer.body.session.token).get('/auth/me'));
    expect(me).toMatchObject({
      kind: 'user',
      role: 'practice_viewer',
      permissions: ['account:self', 'agent:read', 'campaign:read', 'device:read', 'site:read', 'tenant:read'],
      scope: { organizationWide: false, tenantIds: [practiceA.tenant.id] },
      user: { id: user.id, email: user.email },
      credential: { type: 'session', method: 'password', mfa: false },
    });
  });

  it('answers every failure the same way: unknown organization, unknown email, wrong password, no password', async () => {
    const user = await createUser(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
    const ssoOnly = await expectOk(
      admin.post('/users', {
        email: `sso-${randomUUID().slice(0, 6)}@x.example`,
        displayName: 'SSO',
        role: 'auditor',
      }),
    );
    const answers = [
      await anonymous.post('/auth/login', {
        organization: 'no-such-msp',
        email: user.email,
        password: user.password,
      }),
      await anonymous.post('/auth/login', {
        organization: 'default',
        email: 'nobody@x.example',
        password: user.password,
      }),
      await login(user, { password: `${user.password}x` }),
      await anonymous.post('/auth/login', {
        organization: 'default',
        email: ssoOnly.email,
        password: user.password,
      }),
    ];
    for (const answer of answers) {
      expect(answer).toEqual({
        status: 401,
        body: {
          error: { code: 'INVALID_CREDENTIALS', message: answers[0]?.body.error.message, details: {} },
        },
      });
    }
  });

  it('stores an argon2id hash with the configured parameters, never the password', async () => {
    const user = await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    const { rows } = await owner.query(`SELECT password_hash FROM users WHERE id = $1`, [user.id]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    const { rows: everything } = await owner.query(`SELECT u::text AS row FROM users u WHERE id = $1`, [
      user.id,
    ]);
    expect(everything[0].row).not.toContain(user.password);
  });

  it('refuses passwords that break the policy, naming every problem', async () => {
    const weak = await admin.post('/users', {
      email: 'weak@x.example',
      displayName: 'Weak',
      role: 'practice_viewer',
      tenantId: practiceA.tenant.id,
      password: 'weak',
    });
    expect(weak).toMatchObject(expectError(400, 'PASSWORD_POLICY'));
    expect(weak.body.error.details.problems).toEqual(
      expect.arrayContaining(['must be at least 12 characters long']),
    );
    const named = await admin.post('/users', {
      email: 'marisol@x.example',
      displayName: 'Marisol',
      role: 'practice_viewer',
      tenantId: practiceA.tenant.id,
      password: 'marisol-rocks-2026',
    });
    expect(named).toMatchObject(expectError(400, 'PASSWORD_POLICY'));
    expect(
      (await admin.get('/users?limit=500')).body.items.map((u: { email: string }) => u.email),
    ).not.toContain('weak@x.example');
  });
});

describe('MFA', () => {
  it.each(['msp_admin', 'msp_technician', 'auditor'] as const)(
    '%s must enroll TOTP: the enrollment-limited session opens nothing else',
    async (role) => {
      const user = await createUser(cp, role);
      const first = await login(user);
      expect(first).toMatchObject({ status: 200, body: { status: 'mfa_enrollment_required' } });
      const mfaToken = first.body.mfaToken as string;
      expect(mfaToken).toMatch(/^mfm_/);
      expect(first.body.session).toBeUndefined();
      // The limited session is no bearer credential anywhere.
      const limited = new ApiClient(cp.httpUrl, mfaToken);
      for (const path of ['/auth/me', '/tenants', '/users', '/auth/tokens']) {
        expect(await limited.get(path), path).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
      }
      // Nor does it verify a code: it is for enrollment only.
      expect(await anonymous.post('/auth/mfa/verify', { mfaToken, code: '123456' })).toMatchObject(
        expectError(401, 'MFA_TOKEN_INVALID'),
      );
      const enrollment = await expectOk(anonymous.post('/auth/mfa/enroll', { mfaToken }));
      expect(enrollment).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
      expect(enrollment.otpauthUri).toMatch(/^otpauth:\/\/totp\/Medfleet/);
      const secret = base32Decode(enrollment.secret);
      expect(
        await anonymous.post('/auth/mfa/confirm', { mfaToken, code: totpCode(cp, secret, 5) }),
      ).toMatchObject(expectError(401, 'INVALID_CREDENTIALS'));
      const confirmed = await expectOk(
        anonymous.post('/auth/mfa/confirm', { mfaToken, code: totpCode(cp, secret) }),
      );
      expect(confirmed).toMatchObject({ status: 'signed_in', user: { mfaEnrolled: true } });
      const session = new ApiClient(cp.httpUrl, confirmed.session.token);
      expect(await expectOk(session.get('/auth/me'))).toMatchObject({
        role,
        scope: { organizationWide: true, tenantIds: [] },
        credential: { type: 'session', mfa: true },
      });
      expect((await session.get('/tenants')).status).toBe(200);
      // The enrollment token is spent.
      expect(await anonymous.post('/auth/mfa/enroll', { mfaToken })).toMatchObject(
        expectError(401, 'MFA_TOKEN_INVALID'),
      );
      expect(await auditActions(user.id)).toEqual(
        expect.arrayContaining(['auth.mfa_enroll', 'auth.sign_in']),
      );
    },
  );

  it('an enrolled user signs in with the code, in two steps or in one; a code is never accepted twice', async () => {
    const { user, totpSecret } = await signInAs(cp, 'msp_technician');
    const secret = totpSecret as Buffer;
    advance(30_000);
    const first = await expectOk(login(user));
    expect(first.status).toBe('mfa_verification_required');
    const code = totpCode(cp, secret);
    const verified = await expectOk(anonymous.post('/auth/mfa/verify', { mfaToken: first.mfaToken, code }));
    expect(verified.status).toBe('signed_in');
    // Replay of the same code (same step) in a one-step sign-in.
    expect(await login(user, { totp: code })).toMatchObject(expectError(401, 'INVALID_CREDENTIALS'));
    advance(30_000);
    const oneStep = await expectOk(login(user, { totp: totpCode(cp, secret) }));
    expect(oneStep).toMatchObject({
      status: 'signed_in',
      session: { token: expect.stringMatching(/^mfs_/) },
    });
  });

  it('is optional for practice roles: a signed-in practice user can enroll, and then must use it', async () => {
    const viewer = await signInAs(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    expect(viewer.totpSecret).toBeNull();
    const setup = await expectOk(viewer.api.post('/auth/mfa/setup'));
    expect(setup.status).toBe('mfa_enrollment_required');
    const enrollment = await expectOk(anonymous.post('/auth/mfa/enroll', { mfaToken: setup.mfaToken }));
    const secret = base32Decode(enrollment.secret);
    await expectOk(
      anonymous.post('/auth/mfa/confirm', { mfaToken: setup.mfaToken, code: totpCode(cp, secret) }),
    );
    advance(30_000);
    expect((await expectOk(login(viewer.user))).status).toBe('mfa_verification_required');
    expect(await viewer.api.post('/auth/mfa/setup')).toMatchObject(expectError(409, 'MFA_ALREADY_ENROLLED'));
  });

  it('an administrator resets a lost authenticator: sessions end and the MSP user enrolls again', async () => {
    const tech = await signInAs(cp, 'msp_technician');
    const reset = await expectOk(admin.post(`/users/${tech.user.id}/mfa/reset`));
    expect(reset.mfaEnrolled).toBe(false);
    expect(await tech.api.get('/auth/me')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    expect((await expectOk(login(tech.user))).status).toBe('mfa_enrollment_required');
  });
});

describe('lockout against guessing', () => {
  it('locks the account after 5 failures, for 15 minutes, answering as for a wrong password', async () => {
    const user = await createUser(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
    for (let i = 0; i < 5; i++) {
      expect(await login(user, { password: `wrong-${i}-${user.password}` })).toMatchObject(
        expectError(401, 'INVALID_CREDENTIALS'),
      );
    }
    const locked = await login(user);
    expect(locked).toMatchObject(expectError(401, 'INVALID_CREDENTIALS'));
    expect((await expectOk(admin.get(`/users/${user.id}`))).state).toBe('locked');
    advance(14 * 60_000);
    expect((await login(user)).status).toBe(401);
    advance(60_000 + 1_000);
    expect(await expectOk(login(user))).toMatchObject({ status: 'signed_in' });
    const actions = await auditActions(user.id);
    expect(actions.filter((a) => a === 'auth.sign_in_failed')).toHaveLength(7);
    const { rows } = await owner.query(
      `SELECT details FROM audit_entries WHERE target_id = $1 AND action = 'auth.sign_in_failed' ORDER BY seq`,
      [user.id],
    );
    expect(rows.map((row: { details: { reason: string } }) => row.details.reason)).toEqual([
      ...Array(5).fill('wrong_password'),
      'locked',
      'locked',
    ]);
  });

  it('counts wrong TOTP codes too, and a success resets the count', async () => {
    const { user, totpSecret } = await signInAs(cp, 'msp_admin');
    for (let i = 0; i < 4; i++) expect((await login(user, { totp: '000000' })).status).toBe(401);
    advance(30_000);
    await expectOk(login(user, { totp: totpCode(cp, totpSecret as Buffer) }));
    for (let i = 0; i < 4; i++) expect((await login(user, { totp: '000000' })).status).toBe(401);
    advance(30_000);
    await expectOk(login(user, { totp: totpCode(cp, totpSecret as Buffer) }));
    for (let i = 0; i < 5; i++) expect((await login(user, { totp: '000000' })).status).toBe(401);
    advance(30_000);
    expect((await login(user, { totp: totpCode(cp, totpSecret as Buffer) })).status).toBe(401);
  });

  it('concurrent guesses cannot exceed the limit', async () => {
    const user = await createUser(cp, 'practice_viewer', { tenantId: practiceB.tenant.id });
    await Promise.all(Array.from({ length: 12 }, (_, i) => login(user, { password: `guess-${i}-xxxxxxxx` })));
    expect((await login(user)).status).toBe(401);
    const { rows } = await owner.query(
      `SELECT count(*)::int AS n FROM audit_entries WHERE target_id = $1 AND details->>'reason' = 'wrong_password'`,
      [user.id],
    );
    expect(rows[0].n).toBe(5);
  });
});

describe('sessions', () => {
  it('logout ends the session at once, and is recorded', async () => {
    const viewer = await signInAs(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    expect((await viewer.api.get('/tenants')).status).toBe(200);
    expect((await viewer.api.post('/auth/logout')).status).toBe(204);
    expect(await viewer.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    expect(await auditActions(viewer.user.id)).toContain('auth.sign_out');
  });

  it('disabling a user ends their sessions and personal tokens at once; enabling lets them sign in anew', async () => {
    const tech = await signInAs(cp, 'msp_technician');
    const token = await personalTokenOf(tech, ['tenant:read']);
    expect((await token.api.get('/tenants')).status).toBe(200);
    const disabled = await expectOk(admin.post(`/users/${tech.user.id}/disable`));
    expect(disabled.state).toBe('disabled');
    expect(await tech.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    expect(await token.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    expect(await login(tech.user, { totp: totpCode(cp, tech.totpSecret as Buffer, 1) })).toMatchObject(
      expectError(401, 'INVALID_CREDENTIALS'),
    );
    await expectOk(admin.post(`/users/${tech.user.id}/enable`));
    expect(await tech.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    // A token is not a session: it works again once its user is enabled (revoke it to end it for good).
    expect((await token.api.get('/tenants')).status).toBe(200);
    advance(30_000);
    expect(await expectOk(login(tech.user, { totp: totpCode(cp, tech.totpSecret as Buffer) }))).toMatchObject(
      {
        status: 'signed_in',
      },
    );
    expect(await auditActions(tech.user.id)).toEqual(expect.arrayContaining(['user.disable', 'user.enable']));
  });

  it('expires after 15 idle minutes; use keeps it alive up to the 8-hour absolute limit', async () => {
    const viewer = await signInAs(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    for (let elapsed = 0; elapsed < 7.5 * 60; elapsed += 14) {
      advance(14 * 60_000);
      expect((await viewer.api.get('/auth/me')).status, `after ${elapsed + 14} minutes`).toBe(200);
    }
    advance(40 * 60_000);
    expect(await viewer.api.get('/auth/me')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));

    const idle = await signInAs(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    advance(14 * 60_000);
    expect((await idle.api.get('/auth/me')).status).toBe(200);
    advance(15 * 60_000 + 1_000);
    expect(await idle.api.get('/auth/me')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
  });

  it('a role change applies to live sessions at once', async () => {
    const tech = await signInAs(cp, 'msp_technician');
    expect(
      (
        await tech.api.post('/sites', {
          tenantId: practiceA.tenant.id,
          name: `S ${randomUUID()}`,
          timeZone: 'UTC',
        })
      ).status,
    ).toBe(201);
    await expectOk(admin.patch(`/users/${tech.user.id}`, { role: 'auditor' }));
    expect(
      await tech.api.post('/sites', {
        tenantId: practiceA.tenant.id,
        name: `S ${randomUUID()}`,
        timeZone: 'UTC',
      }),
    ).toMatchObject(expectError(403, 'FORBIDDEN'));
    expect((await tech.api.get('/users')).status).toBe(200);
  });

  it('changing the password ends the other sessions, not the current one', async () => {
    const user = await createUser(cp, 'practice_admin', { tenantId: practiceB.tenant.id });
    const first = await signIn(cp, user);
    const second = await signIn(cp, user);
    const next = newPassword();
    expect(
      await second.api.post('/auth/password', { currentPassword: 'not it at all', newPassword: next }),
    ).toMatchObject(expectError(401, 'INVALID_CREDENTIALS'));
    expect(
      await second.api.post('/auth/password', { currentPassword: user.password, newPassword: 'short' }),
    ).toMatchObject(expectError(400, 'PASSWORD_POLICY'));
    expect(
      (await second.api.post('/auth/password', { currentPassword: user.password, newPassword: next })).status,
    ).toBe(204);
    expect((await first.api.get('/auth/me')).status).toBe(401);
    expect((await second.api.get('/auth/me')).status).toBe(200);
    expect((await login(user)).status).toBe(401);
    expect((await login({ ...user, password: next })).status).toBe(200);
  });

  it('an API key has no session to end', async () => {
    expect(await admin.post('/auth/logout')).toMatchObject(expectError(403, 'SESSION_REQUIRED'));
    expect(await expectOk(admin.get('/auth/me'))).toMatchObject({
      kind: 'api_key',
      role: 'msp_admin',
      user: null,
    });
  });
});

describe('personal API tokens', () => {
  let owner1: SignedInUser;

  beforeAll(async () => {
    owner1 = await signInAs(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
  });

  it('are shown once, scoped to the permissions asked for, and track their last use', async () => {
    const created = await owner1.api.post('/auth/tokens', {
      name: 'inventory export',
      permissions: ['device:read', 'tenant:read'],
      expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
    });
    expect(created).toMatchObject({
      status: 201,
      body: {
        name: 'inventory export',
        state: 'active',
        lastUsedAt: null,
        token: expect.stringMatching(/^mfp_/),
      },
    });
    const token = new ApiClient(cp.httpUrl, created.body.token);
    expect((await token.get('/devices')).status).toBe(200);
    expect(await token.get('/sites')).toMatchObject(expectError(403, 'FORBIDDEN'));
    expect(await expectOk(token.get('/auth/me'))).toMatchObject({
      kind: 'personal_token',
      role: 'practice_admin',
      permissions: ['account:self', 'device:read', 'tenant:read'],
      scope: { organizationWide: false, tenantIds: [practiceA.tenant.id] },
      credential: { type: 'personal_token', id: created.body.id },
    });
    const listed = await expectOk(owner1.api.get('/auth/tokens'));
    const entry = listed.items.find((t: { id: string }) => t.id === created.body.id);
    expect(entry.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain(created.body.token);
    const { rows } = await owner.query(`SELECT token_hash FROM personal_tokens WHERE id = $1`, [
      created.body.id,
    ]);
    expect(rows[0].token_hash).toHaveLength(32);
  });

  it('cannot exceed the role, must expire within the limit, and only a session makes them', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    expect(
      await owner1.api.post('/auth/tokens', { name: 'x', permissions: ['tenant:write'], expiresAt }),
    ).toMatchObject(expectError(403, 'TOKEN_PERMISSIONS_EXCEED_ROLE'));
    expect(await owner1.api.post('/auth/tokens', { name: 'x', permissions: ['device:read'] })).toMatchObject(
      expectError(400, 'VALIDATION_FAILED'),
    );
    for (const when of [Date.now() - 1000, Date.now() + 400 * 86_400_000]) {
      expect(
        await owner1.api.post('/auth/tokens', {
          name: 'x',
          permissions: ['device:read'],
          expiresAt: new Date(when + clockOffsetMs).toISOString(),
        }),
      ).toMatchObject(expectError(400, 'TOKEN_EXPIRY_INVALID'));
    }
    const token = await personalTokenOf(owner1, ['tenant:read']);
    expect(
      await token.api.post('/auth/tokens', { name: 'x', permissions: ['tenant:read'], expiresAt }),
    ).toMatchObject(expectError(403, 'SESSION_REQUIRED'));
    expect(
      await admin.post('/auth/tokens', { name: 'x', permissions: ['tenant:read'], expiresAt }),
    ).toMatchObject(expectError(403, 'SESSION_REQUIRED'));
  });

  it('stop working when revoked or expired; another user cannot revoke them', async () => {
    const token = await personalTokenOf(owner1, ['tenant:read'], 2);
    const other = await signInAs(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
    expect(await other.api.post(`/auth/tokens/${token.id}/revoke`)).toMatchObject(
      expectError(404, 'NOT_FOUND'),
    );
    expect((await token.api.get('/tenants')).status).toBe(200);
    expect(await expectOk(owner1.api.post(`/auth/tokens/${token.id}/revoke`))).toMatchObject({
      state: 'revoked',
    });
    expect(await token.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
    expect(await auditActions(token.id)).toEqual(['personal_token.create', 'personal_token.revoke']);

    const expiring = await personalTokenOf(owner1, ['tenant:read'], 1);
    expect((await expiring.api.get('/tenants')).status).toBe(200);
    advance(86_400_000 + 1000);
    expect(await expiring.api.get('/tenants')).toMatchObject(expectError(401, 'UNAUTHENTICATED'));
  });

  it("shrink with the user's role", async () => {
    const tech = await signInAs(cp, 'msp_technician');
    const token = await personalTokenOf(tech, ['site:read', 'site:write']);
    await expectOk(admin.patch(`/users/${tech.user.id}`, { role: 'auditor' }));
    expect(await expectOk(token.api.get('/sites'))).toBeDefined();
    expect(
      await token.api.post('/sites', {
        tenantId: practiceA.tenant.id,
        name: `T ${randomUUID()}`,
        timeZone: 'UTC',
      }),
    ).toMatchObject(expectError(403, 'FORBIDDEN'));
  });
});

describe('user management within role limits', () => {
  let practiceAdmin: SignedInUser;
  let mspTech: TestUser;

  beforeAll(async () => {
    practiceAdmin = await signInAs(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
    mspTech = await createUser(cp, 'msp_technician');
  });

  it("a practice admin manages their practice's staff, defaulting to their own tenant", async () => {
    const created = await practiceAdmin.api.post('/users', {
      email: `front-desk-${randomUUID().slice(0, 6)}@coral.example`,
      displayName: 'Front desk',
      role: 'practice_viewer',
      password: newPassword(),
    });
    expect(created).toMatchObject({
      status: 201,
      body: { tenantId: practiceA.tenant.id, role: 'practice_viewer' },
    });
    expect(
      (
        await practiceAdmin.api.patch(`/users/${created.body.id}`, {
          role: 'practice_admin',
          displayName: 'Lead',
        })
      ).body,
    ).toMatchObject({ role: 'practice_admin', displayName: 'Lead' });
    expect((await practiceAdmin.api.post(`/users/${created.body.id}/disable`)).body.state).toBe('disabled');
    expect(await auditActions(created.body.id)).toEqual(['user.create', 'user.update', 'user.disable']);
  });

  it('a practice admin never grants an MSP role, nor reaches another practice or the MSP staff', async () => {
    for (const role of ['msp_admin', 'msp_technician', 'auditor']) {
      expect(
        await practiceAdmin.api.post('/users', { email: `${role}@evil.example`, displayName: 'x', role }),
        role,
      ).toMatchObject(expectError(403, 'ROLE_NOT_GRANTABLE'));
    }
    expect(
      await practiceAdmin.api.post('/users', {
        email: 'other-practice@evil.example',
        displayName: 'x',
        role: 'practice_viewer',
        tenantId: practiceB.tenant.id,
      }),
    ).toMatchObject(expectError(404, 'NOT_FOUND'));
    expect(await practiceAdmin.api.get(`/users/${mspTech.id}`)).toMatchObject(expectError(404, 'NOT_FOUND'));
    expect(await practiceAdmin.api.post(`/users/${mspTech.id}/disable`)).toMatchObject(
      expectError(404, 'NOT_FOUND'),
    );
    const listed = await expectOk(practiceAdmin.api.get('/users?limit=500'));
    expect(listed.items.length).toBeGreaterThan(0);
    expect(listed.items.every((u: { tenantId: string }) => u.tenantId === practiceA.tenant.id)).toBe(true);
    const viewerB = await createUser(cp, 'practice_viewer', { tenantId: practiceB.tenant.id });
    expect(await practiceAdmin.api.patch(`/users/${viewerB.id}`, { displayName: 'x' })).toMatchObject(
      expectError(404, 'NOT_FOUND'),
    );
  });

  it('roles change only within their kind, never by their holder, and nobody disables themselves', async () => {
    const viewer = await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    expect(await admin.patch(`/users/${viewer.id}`, { role: 'msp_admin' })).toMatchObject(
      expectError(400, 'ROLE_CHANGE_INVALID'),
    );
    const mspAdmin = await signInAs(cp, 'msp_admin');
    expect(await mspAdmin.api.patch(`/users/${mspAdmin.user.id}`, { role: 'auditor' })).toMatchObject(
      expectError(403, 'CANNOT_CHANGE_SELF'),
    );
    expect(await mspAdmin.api.post(`/users/${mspAdmin.user.id}/disable`)).toMatchObject(
      expectError(403, 'CANNOT_CHANGE_SELF'),
    );
    expect(
      await practiceAdmin.api.patch(`/users/${practiceAdmin.user.id}`, { role: 'practice_viewer' }),
    ).toMatchObject(expectError(403, 'CANNOT_CHANGE_SELF'));
  });

  it('technicians and viewers cannot manage users; auditors read them only', async () => {
    const tech = await signIn(cp, mspTech);
    expect(await tech.api.get('/users')).toMatchObject(expectError(403, 'FORBIDDEN'));
    const auditor = await signInAs(cp, 'auditor');
    expect((await auditor.api.get('/users')).status).toBe(200);
    expect(await auditor.api.post(`/users/${mspTech.id}/disable`)).toMatchObject(
      expectError(403, 'FORBIDDEN'),
    );
  });

  it('an email is one person per organization; a technician limit names tenants of the organization', async () => {
    const user = await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    expect(
      await admin.post('/users', { email: user.email, displayName: 'Dup', role: 'auditor' }),
    ).toMatchObject(expectError(409, 'CONFLICT'));
    expect(
      await admin.post('/users', {
        email: 'limited@x.example',
        displayName: 'x',
        role: 'msp_technician',
        limitedTenantIds: [randomUUID()],
      }),
    ).toMatchObject(expectError(404, 'NOT_FOUND'));
    expect(
      await admin.post('/users', {
        email: 'limited2@x.example',
        displayName: 'x',
        role: 'auditor',
        limitedTenantIds: [practiceA.tenant.id],
      }),
    ).toMatchObject(expectError(400, 'VALIDATION_FAILED'));
  });
});

describe('what signed-in people can reach', () => {
  it('a technician limited to some tenants sees only those', async () => {
    const tech = await signInAs(cp, 'msp_technician', { limitedTenantIds: [practiceA.tenant.id] });
    const tenants = await expectOk(tech.api.get('/tenants?limit=500'));
    expect(tenants.items.map((t: { id: string }) => t.id)).toEqual([practiceA.tenant.id]);
    expect(await tech.api.get(`/tenants/${practiceB.tenant.id}`)).toMatchObject(
      expectError(404, 'NOT_FOUND'),
    );
    expect(await tech.api.get(`/sites/${practiceB.site.id}`)).toMatchObject(expectError(404, 'NOT_FOUND'));
    const sites = await expectOk(tech.api.get('/sites?limit=500'));
    expect(new Set(sites.items.map((s: { tenantId: string }) => s.tenantId))).toEqual(
      new Set([practiceA.tenant.id]),
    );
    expect(
      await tech.api.post('/sites', { tenantId: practiceB.tenant.id, name: 'Sneaky', timeZone: 'UTC' }),
    ).toMatchObject({ status: 404 });
    // Lifting the limit applies at once.
    await expectOk(admin.patch(`/users/${tech.user.id}`, { limitedTenantIds: null }));
    expect((await expectOk(tech.api.get('/tenants?limit=500'))).items.length).toBeGreaterThanOrEqual(2);
  });

  it('a practice user sees only its own tenant', async () => {
    const viewer = await signInAs(cp, 'practice_viewer', { tenantId: practiceB.tenant.id });
    expect(
      (await expectOk(viewer.api.get('/tenants?limit=500'))).items.map((t: { id: string }) => t.id),
    ).toEqual([practiceB.tenant.id]);
    expect(await viewer.api.get(`/tenants/${practiceA.tenant.id}`)).toMatchObject(
      expectError(404, 'NOT_FOUND'),
    );
    expect(await viewer.api.get(`/sites/${practiceA.site.id}`)).toMatchObject(expectError(404, 'NOT_FOUND'));
    expect(await viewer.api.get('/users')).toMatchObject(expectError(403, 'FORBIDDEN'));
  });
});

describe('in the database', () => {
  it('users have row-level security enabled and forced; practice scopes see their tenant only', async () => {
    const tables = ['oidc_connections', 'oidc_login_states', 'personal_tokens', 'user_sessions', 'users'];
    const { rows } = await owner.query(
      `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY($1) ORDER BY relname`,
      [tables],
    );
    expect(rows).toEqual(
      tables.map((relname) => ({ relname, relrowsecurity: true, relforcerowsecurity: true })),
    );
    await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    await createUser(cp, 'practice_viewer', { tenantId: practiceB.tenant.id });
    await createUser(cp, 'auditor');
    const seen = await selectAsApp<{ tenant_id: string | null }>(
      owner,
      { tenantIds: [practiceA.tenant.id] },
      `SELECT tenant_id FROM users`,
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((row) => row.tenant_id === practiceA.tenant.id)).toBe(true);
    expect(await selectAsApp(owner, null, `SELECT id FROM users`)).toEqual([]);
    const org = await selectAsApp<{ tenant_id: string | null }>(
      owner,
      { organizationId: practiceA.tenant.organizationId },
      `SELECT tenant_id FROM users`,
    );
    expect(org.some((row) => row.tenant_id === null)).toBe(true);
    expect(org.some((row) => row.tenant_id === practiceB.tenant.id)).toBe(true);
  });

  it('a credential lookup sees the one session it names, and nothing else', async () => {
    const viewer = await signInAs(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    const sessionId = /^mfs_([0-9a-f-]{36})_/.exec(viewer.token)?.[1] as string;
    expect(await selectAsApp(owner, null, `SELECT id FROM user_sessions`)).toEqual([]);
    await beginAsApp(owner, null);
    try {
      await owner.query(`SELECT set_config('medfleet.credential', $1, true)`, [sessionId]);
      const { rows } = await owner.query(`SELECT id FROM user_sessions`);
      expect(rows).toEqual([{ id: sessionId }]);
      expect((await owner.query(`SELECT id FROM personal_tokens`)).rows).toEqual([]);
      // Seeing it is not changing it: a change needs the session's organization or tenant scope.
      await expect(owner.query(`UPDATE user_sessions SET revoked_at = now()`)).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
    } finally {
      await owner.query('ROLLBACK');
    }
    const practiceScope = await selectAsApp<{ user_id: string }>(
      owner,
      { tenantIds: [practiceA.tenant.id] },
      `SELECT DISTINCT user_id FROM user_sessions`,
    );
    expect(practiceScope.map((row) => row.user_id)).toContain(viewer.user.id);
    const otherPractice = await selectAsApp<{ user_id: string }>(
      owner,
      { tenantIds: [practiceB.tenant.id] },
      `SELECT DISTINCT user_id FROM user_sessions`,
    );
    expect(otherPractice.map((row) => row.user_id)).not.toContain(viewer.user.id);
  });

  it('the app role cannot delete users, rewrite their email or organization, or insert into another tenant', async () => {
    const scope = { organizationId: practiceA.tenant.organizationId };
    for (const sql of [
      `DELETE FROM users`,
      `UPDATE users SET email = 'x@y.example'`,
      `UPDATE users SET organization_id = gen_random_uuid()`,
      `UPDATE users SET tenant_id = NULL`,
    ]) {
      expect(await asApp(owner, scope, sql), sql).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
    }
    const inserted = await asApp(
      owner,
      { tenantIds: [practiceA.tenant.id] },
      `INSERT INTO users (id, organization_id, tenant_id, email, display_name, role)
       VALUES (gen_random_uuid(), $1, $2, 'intruder@x.example', 'x', 'practice_admin')`,
      [practiceB.tenant.organizationId, practiceB.tenant.id],
    );
    expect(inserted).toMatchObject({ ok: false, code: INSUFFICIENT_PRIVILEGE });
  });
});

describe('reads of people’s accounts are audited', () => {
  it('a user read and a user list each leave one entry, naming the reader and what was read', async () => {
    const user = await createUser(cp, 'practice_viewer', { tenantId: practiceA.tenant.id });
    const reader = await signInAs(cp, 'practice_admin', { tenantId: practiceA.tenant.id });
    await expectOk(reader.api.get(`/users/${user.id}`));
    await expectOk(reader.api.get(`/users?tenantId=${practiceA.tenant.id}`));
    const { rows } = await owner.query(
      `SELECT action, target_id, tenant_id FROM audit_entries WHERE actor_id = $1 AND action = 'user.read' ORDER BY seq`,
      [reader.user.id],
    );
    expect(rows).toEqual([
      { action: 'user.read', target_id: user.id, tenant_id: practiceA.tenant.id },
      { action: 'user.read', target_id: null, tenant_id: practiceA.tenant.id },
    ]);
  });
});
