// Single sign-on against a real OpenID Provider (the `oidc-provider` package on a loopback port), walked
// over HTTP the way a browser does: start → the provider's login page → callback → a working session.
// Also the refusals: a wrong or replayed state, a domain that is not allowed, a code issued to another
// client, a person with no user, and MFA for MSP roles from the provider's `amr` or Medfleet's own TOTP.
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { base32Decode } from '../src/modules/identity/totp.util.js';
import { ApiClient } from './support/api-client.js';
import { signInAs, totpCode } from './support/identity-session.js';
import { startOpenIdProvider, TestBrowser, type TestOpenIdProvider } from './support/oidc-test-provider.js';
import { createTenantSession, expectOk, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let idp: TestOpenIdProvider;
let owner: pg.Client;
let admin: ApiClient;
let anonymous: ApiClient;
let practice: TenantSession;
let organizationId: string;
let callbackUrl: string;

const CLIENT = { clientId: 'medfleet', clientSecret: randomBytes(24).toString('base64url') };
const OTHER_CLIENT = {
  clientId: 'another-app',
  clientSecret: randomBytes(24).toString('base64url'),
  redirectUri: 'http://127.0.0.1:9/another-app/callback',
};

const expectError = (status: number, code: string) => ({ status, body: { error: { code } } });

beforeAll(async () => {
  cp = await startTestControlPlane({
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '10000',
    OIDC_ALLOW_HTTP_ISSUERS: 'true',
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  });
  callbackUrl = `${cp.httpUrl}/api/v1/auth/oidc/callback`;
  idp = await startOpenIdProvider([{ ...CLIENT, redirectUri: callbackUrl }, OTHER_CLIENT]);
  owner = await cp.owner();
  admin = new ApiClient(cp.httpUrl, cp.apiKey);
  anonymous = admin.withKey(null);
  practice = await createTenantSession(cp, 'SSO Practice');
  organizationId = practice.tenant.organizationId;
  await configure({ newUserRole: null });
});

afterAll(async () => {
  await owner?.end();
  await idp?.close();
  await cp?.stop();
});

afterEach(async () => {
  await configure({ newUserRole: null, mfaAmrValues: ['mfa', 'otp'] });
});

function configure(overrides: Record<string, unknown> = {}) {
  return expectOk(
    admin.request('PUT', `/organizations/${organizationId}/oidc`, {
      issuer: idp.issuer,
      clientId: CLIENT.clientId,
      clientSecret: CLIENT.clientSecret,
      allowedEmailDomains: ['acme-it.example', 'coralpeds.example'],
      ...overrides,
    }),
  );
}

/** A person at the provider, with a subject of their own. */
function person(email: string, extra: { email_verified?: boolean; name?: string } = {}): string {
  const sub = `sub-${randomUUID()}`;
  idp.accounts.set(sub, { email, email_verified: true, name: 'SSO Person', ...extra });
  return sub;
}

/** Walks the browser flow up to the redirect back to Medfleet; answers the callback URL without requesting it. */
async function throughProvider(browser: TestBrowser, sub: string, amr: string, organization = 'default') {
  const start = await browser.request(`${cp.httpUrl}/api/v1/auth/oidc/${organization}/start`);
  expect(start.status, start.body).toBe(302);
  const page = await browser.follow(start.location as string);
  expect(page.status, page.body).toBe(200);
  const uid = /\/interaction\/([^/"]+)\/login/.exec(page.body)?.[1];
  const submitted = await browser.request(`${idp.issuer}/interaction/${uid}/login`, {
    method: 'POST',
    form: { login: sub, amr },
  });
  const back = await browser.follow(submitted.location as string, callbackUrl);
  expect(back.location, back.body).toMatch(new RegExp(`^${callbackUrl}\\?`));
  return { start: start.location as string, callback: back.location as string };
}

async function ssoSignIn(sub: string, amr = 'pwd') {
  const browser = new TestBrowser();
  const { callback } = await throughProvider(browser, sub, amr);
  const answer = await browser.request(callback);
  return { status: answer.status, body: JSON.parse(answer.body), callback, browser };
}

async function createUser(body: Record<string, unknown>) {
  return expectOk(admin.post('/users', { displayName: 'Pre-created', ...body }));
}

describe('configuration', () => {
  it('keeps the client secret to itself, sealed at rest', async () => {
    const view = await expectOk(admin.get(`/organizations/${organizationId}/oidc`));
    expect(view).toMatchObject({
      issuer: idp.issuer,
      clientId: CLIENT.clientId,
      clientSecretSet: true,
      mfaAmrValues: ['mfa', 'otp'],
      enabled: true,
      redirectUri: callbackUrl,
    });
    expect(JSON.stringify(view)).not.toContain(CLIENT.clientSecret);
    const { rows } = await owner.query(
      `SELECT client_secret FROM oidc_connections WHERE organization_id = $1`,
      [organizationId],
    );
    expect(rows[0].client_secret).toMatch(/^v1:/);
    expect(rows[0].client_secret).not.toContain(CLIENT.clientSecret);
  });

  it('only an MSP administrator of the organization changes it', async () => {
    const body = { issuer: idp.issuer, clientId: 'x', allowedEmailDomains: ['acme-it.example'] };
    const auditor = await signInAs(cp, 'auditor');
    expect((await auditor.api.get(`/organizations/${organizationId}/oidc`)).status).toBe(200);
    expect(await auditor.api.request('PUT', `/organizations/${organizationId}/oidc`, body)).toMatchObject(
      expectError(403, 'FORBIDDEN'),
    );
    const practiceAdmin = await signInAs(cp, 'practice_admin', { tenantId: practice.tenant.id });
    expect(
      await practiceAdmin.api.request('PUT', `/organizations/${organizationId}/oidc`, body),
    ).toMatchObject(expectError(404, 'NOT_FOUND'));
    const other = await cp.app
      .get(OrganizationService)
      .create('Other MSP', `other-${randomUUID().slice(0, 6)}`);
    expect(
      await admin.withKey(other.apiKey.token).request('PUT', `/organizations/${organizationId}/oidc`, body),
    ).toMatchObject(expectError(404, 'NOT_FOUND'));
    expect((await expectOk(admin.get(`/organizations/${organizationId}/oidc`))).clientId).toBe(
      CLIENT.clientId,
    );
    expect(await anonymous.get(`/auth/oidc/${other.organization.slug}/start`)).toMatchObject(
      expectError(404, 'SSO_NOT_CONFIGURED'),
    );
    expect(await anonymous.get('/auth/oidc/no-such-msp/start')).toMatchObject(
      expectError(404, 'SSO_NOT_CONFIGURED'),
    );
  });
});

describe('the sign-in flow', () => {
  it('redirects with Authorization Code + PKCE (S256), state and nonce, keeping only a hash of the state', async () => {
    const response = await new TestBrowser().request(`${cp.httpUrl}/api/v1/auth/oidc/default/start`);
    expect(response.status).toBe(302);
    const location = new URL(response.location as string);
    expect(location.origin).toBe(idp.issuer);
    const params = Object.fromEntries(location.searchParams);
    expect(params).toMatchObject({
      client_id: CLIENT.clientId,
      response_type: 'code',
      redirect_uri: callbackUrl,
      code_challenge_method: 'S256',
      scope: 'openid email profile',
    });
    expect(params.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.state?.length).toBeGreaterThanOrEqual(32);
    expect(params.nonce?.length).toBeGreaterThanOrEqual(32);
    const { rows } = await owner.query(`SELECT state_hash::text AS h, code_verifier FROM oidc_login_states`);
    expect(JSON.stringify(rows)).not.toContain(params.state);
  });

  it('signs in a pre-created MSP admin whose provider did MFA, and the session works', async () => {
    const email = `ana-${randomUUID().slice(0, 6)}@acme-it.example`;
    const user = await createUser({ email, role: 'msp_admin' });
    const sub = person(email.toUpperCase());
    const answer = await ssoSignIn(sub, 'pwd,mfa');
    expect(answer).toMatchObject({
      status: 200,
      body: { status: 'signed_in', user: { id: user.id, ssoLinked: true, mfaEnrolled: false } },
    });
    const session = new ApiClient(cp.httpUrl, answer.body.session.token);
    expect(await expectOk(session.get('/auth/me'))).toMatchObject({
      kind: 'user',
      role: 'msp_admin',
      credential: { type: 'session', method: 'oidc', mfa: true },
    });
    expect((await session.get('/tenants')).status).toBe(200);
    const { rows } = await owner.query(`SELECT oidc_issuer, oidc_subject FROM users WHERE id = $1`, [
      user.id,
    ]);
    expect(rows[0]).toEqual({ oidc_issuer: idp.issuer, oidc_subject: sub });
    const { rows: audit } = await owner.query(
      `SELECT details FROM audit_entries WHERE target_id = $1 AND action = 'auth.sign_in'`,
      [user.id],
    );
    expect(audit[0].details).toMatchObject({ method: 'oidc', mfa: true });
    // The state was used: the same callback again is refused.
    expect((await answer.browser.request(answer.callback)).status).toBe(400);
  });

  it('an MSP user whose provider did no MFA must enroll (then verify) Medfleet TOTP after SSO', async () => {
    const email = `tech-${randomUUID().slice(0, 6)}@acme-it.example`;
    await createUser({ email, role: 'msp_technician' });
    const sub = person(email);
    const first = await ssoSignIn(sub, 'pwd');
    expect(first.body).toMatchObject({ status: 'mfa_enrollment_required' });
    expect(await new ApiClient(cp.httpUrl, first.body.mfaToken).get('/tenants')).toMatchObject(
      expectError(401, 'UNAUTHENTICATED'),
    );
    const enrollment = await expectOk(anonymous.post('/auth/mfa/enroll', { mfaToken: first.body.mfaToken }));
    const secret = base32Decode(enrollment.secret);
    const enrolled = await expectOk(
      anonymous.post('/auth/mfa/confirm', { mfaToken: first.body.mfaToken, code: totpCode(cp, secret) }),
    );
    expect(enrolled.status).toBe('signed_in');
    const second = await ssoSignIn(sub, 'pwd');
    expect(second.body.status).toBe('mfa_verification_required');
    const verified = await expectOk(
      anonymous.post('/auth/mfa/verify', { mfaToken: second.body.mfaToken, code: totpCode(cp, secret, 1) }),
    );
    expect(verified.status).toBe('signed_in');
    expect(
      (await expectOk(new ApiClient(cp.httpUrl, verified.session.token).get('/auth/me'))).credential,
    ).toMatchObject({ method: 'oidc', mfa: true });
  });

  it('an empty list of accepted amr values makes MSP staff always use Medfleet TOTP', async () => {
    await configure({ newUserRole: null, mfaAmrValues: [] });
    const email = `strict-${randomUUID().slice(0, 6)}@acme-it.example`;
    await createUser({ email, role: 'auditor' });
    expect((await ssoSignIn(person(email), 'pwd,mfa,otp')).body.status).toBe('mfa_enrollment_required');
  });

  it('a practice user signs in without further MFA (optional for practice roles)', async () => {
    const email = `nurse-${randomUUID().slice(0, 6)}@coralpeds.example`;
    await createUser({ email, role: 'practice_viewer', tenantId: practice.tenant.id });
    const answer = await ssoSignIn(person(email), 'pwd');
    expect(answer.body).toMatchObject({ status: 'signed_in', user: { tenantId: practice.tenant.id } });
    const tenants = await expectOk(new ApiClient(cp.httpUrl, answer.body.session.token).get('/tenants'));
    expect(tenants.items.map((t: { id: string }) => t.id)).toEqual([practice.tenant.id]);
  });

  it('provisions newcomers just in time with the configured role, when configured to', async () => {
    const email = `new-${randomUUID().slice(0, 6)}@coralpeds.example`;
    const sub = person(email, { name: 'Dr. New Comer' });
    expect(await ssoSignIn(sub)).toMatchObject({
      status: 403,
      body: { error: { code: 'SSO_DENIED', details: { reason: 'not_provisioned' } } },
    });
    await configure({ newUserRole: 'practice_viewer', newUserTenantId: practice.tenant.id });
    const answer = await ssoSignIn(sub);
    expect(answer.body).toMatchObject({
      status: 'signed_in',
      user: { email, displayName: 'Dr. New Comer', role: 'practice_viewer', tenantId: practice.tenant.id },
    });
    const { rows } = await owner.query(
      `SELECT actor_kind, actor_display FROM audit_entries WHERE target_id = $1 AND action = 'user.create'`,
      [answer.body.user.id],
    );
    expect(rows[0]).toEqual({
      actor_kind: 'system',
      actor_display: 'OpenID Connect just-in-time provisioning',
    });
  });
});

describe('refusals', () => {
  it('a wrong, missing or replayed state answers 400 SSO_STATE_INVALID and signs nobody in', async () => {
    expect(
      await anonymous.get(`/auth/oidc/callback?code=abc&state=${randomBytes(32).toString('base64url')}`),
    ).toMatchObject(expectError(400, 'SSO_STATE_INVALID'));
    expect(await anonymous.get('/auth/oidc/callback?code=abc')).toMatchObject(
      expectError(400, 'SSO_STATE_INVALID'),
    );
    const email = `replay-${randomUUID().slice(0, 6)}@coralpeds.example`;
    await createUser({ email, role: 'practice_admin', tenantId: practice.tenant.id });
    const first = await ssoSignIn(person(email));
    expect(first.status).toBe(200);
    const replay = await first.browser.request(first.callback);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body)).toMatchObject({ error: { code: 'SSO_STATE_INVALID' } });
    // The state of one login does not fit another login's code either.
    const browser = new TestBrowser();
    const { callback } = await throughProvider(browser, person(email), 'pwd');
    const forged = new URL(callback);
    forged.searchParams.set('state', new URL(first.callback).searchParams.get('state') as string);
    expect((await browser.request(forged.href)).status).toBe(400);
  });

  it('a person from a domain that is not allowed is refused, and no user is made', async () => {
    await configure({ newUserRole: 'msp_admin' });
    const email = `mallory-${randomUUID().slice(0, 6)}@evil.example`;
    expect(await ssoSignIn(person(email), 'pwd,mfa')).toMatchObject({
      status: 403,
      body: { error: { code: 'SSO_DENIED', details: { reason: 'domain_not_allowed' } } },
    });
    const lookalike = `mallory-${randomUUID().slice(0, 6)}@acme-it.example.evil.example`;
    expect((await ssoSignIn(person(lookalike), 'pwd,mfa')).body.error.details.reason).toBe(
      'domain_not_allowed',
    );
    const { rows } = await owner.query(`SELECT count(*)::int AS n FROM users WHERE email LIKE 'mallory-%'`);
    expect(rows[0].n).toBe(0);
    const { rows: audit } = await owner.query(
      `SELECT count(*)::int AS n FROM audit_entries WHERE action = 'auth.sign_in_failed' AND details->>'reason' = 'domain_not_allowed'`,
    );
    expect(audit[0].n).toBe(2);
  });

  it('an unverified email, or an email already linked to another identity, is refused', async () => {
    const email = `linked-${randomUUID().slice(0, 6)}@acme-it.example`;
    await createUser({ email, role: 'auditor' });
    expect(
      (await ssoSignIn(person(email, { email_verified: false }), 'pwd,mfa')).body.error.details.reason,
    ).toBe('email_unverified');
    expect((await ssoSignIn(person(email), 'pwd,mfa')).body.status).toBe('signed_in');
    expect((await ssoSignIn(person(email), 'pwd,mfa')).body.error.details.reason).toBe('identity_mismatch');
  });

  it('a disabled user is refused', async () => {
    const email = `gone-${randomUUID().slice(0, 6)}@acme-it.example`;
    const user = await createUser({ email, role: 'msp_technician' });
    await expectOk(admin.post(`/users/${user.id}/disable`));
    expect(await ssoSignIn(person(email), 'pwd,mfa')).toMatchObject({
      status: 403,
      body: { error: { code: 'SSO_DENIED', details: { reason: 'disabled' } } },
    });
  });

  it('a code the provider issued to another client is refused at the token endpoint', async () => {
    const email = `victim-${randomUUID().slice(0, 6)}@acme-it.example`;
    await createUser({ email, role: 'msp_admin' });
    const sub = person(email);
    // Another application of the same provider gets a code for this person...
    const browser = new TestBrowser();
    const authorize = new URL(`${idp.issuer}/auth`);
    for (const [key, value] of Object.entries({
      client_id: OTHER_CLIENT.clientId,
      redirect_uri: OTHER_CLIENT.redirectUri,
      response_type: 'code',
      scope: 'openid email',
      state: 'theirs',
      nonce: 'theirs',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGpDowcoxo',
      code_challenge_method: 'S256',
    })) {
      authorize.searchParams.set(key, value);
    }
    const page = await browser.follow(authorize.href);
    const uid = /\/interaction\/([^/"]+)\/login/.exec(page.body)?.[1];
    const submitted = await browser.request(`${idp.issuer}/interaction/${uid}/login`, {
      method: 'POST',
      form: { login: sub, amr: 'pwd,mfa' },
    });
    const theirs = await browser.follow(submitted.location as string, OTHER_CLIENT.redirectUri);
    const stolenCode = new URL(theirs.location as string).searchParams.get('code') as string;
    expect(stolenCode).toBeTruthy();
    // ...and injects it into a Medfleet sign-in of its own.
    const ours = new URL(
      (await new TestBrowser().request(`${cp.httpUrl}/api/v1/auth/oidc/default/start`)).location as string,
    );
    const injected = `${callbackUrl}?code=${encodeURIComponent(stolenCode)}&state=${ours.searchParams.get('state')}&iss=${encodeURIComponent(idp.issuer)}`;
    const answer = await fetch(injected);
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({
      error: { code: 'SSO_FAILED', details: { reason: 'token_rejected' } },
    });
  });

  it("the provider's error answer is a failed sign-in", async () => {
    const start = new URL(
      (await new TestBrowser().request(`${cp.httpUrl}/api/v1/auth/oidc/default/start`)).location as string,
    );
    const answer = await anonymous.get(
      `/auth/oidc/callback?error=access_denied&state=${start.searchParams.get('state')}`,
    );
    expect(answer).toMatchObject({
      status: 401,
      body: { error: { code: 'SSO_FAILED', details: { reason: 'provider_error' } } },
    });
  });
});
