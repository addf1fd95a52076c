/**
 * Signed-in users for tests: create a user of any role through the API, sign them in over HTTP the way a
 * person does (password, then TOTP enrollment for MSP roles), and get an ApiClient carrying the session.
 *
 *   const tech = await signInAs(cp, 'msp_technician');
 *   const viewer = await signInAs(cp, 'practice_viewer', { tenantId });
 *   await tech.api.get('/devices');
 */
import { randomBytes } from 'node:crypto';
import type { Permission, Role } from '../../src/common/auth/permissions.js';
import { IdentityClock } from '../../src/modules/identity/identity-clock.js';
import { base32Decode, totp } from '../../src/modules/identity/totp.util.js';
import { ApiClient } from './api-client.js';
import type { TestControlPlane } from './test-env.js';

export interface TestUser {
  id: string;
  email: string;
  role: Role;
  tenantId: string | null;
  organizationId: string;
  password: string;
}

export interface SignedInUser {
  user: TestUser;
  organization: string;
  /** The session token (mfs_…). */
  token: string;
  /** An API client that sends the session token. */
  api: ApiClient;
  /** The TOTP seed when the user enrolled (always for MSP roles). */
  totpSecret: Buffer | null;
}

export interface CreateUserOptions {
  email?: string;
  displayName?: string;
  /** For practice roles: the user's tenant. */
  tenantId?: string;
  /** For msp_technician: the tenants the technician is limited to. */
  limitedTenantIds?: string[];
  password?: string;
  /** The credential that creates the user (an msp_admin's or practice_admin's); the bootstrap API key by default. */
  adminKey?: string;
}

export interface SignInOptions extends CreateUserOptions {
  /** The organization's slug; `default` (the bootstrap organization of cp.apiKey) by default. */
  organization?: string;
}

export function newPassword(): string {
  return `Pw-${randomBytes(12).toString('base64url')}`;
}

/** Creates a user through POST /users; answers it with the password it was given. */
export async function createUser(
  cp: TestControlPlane,
  role: Role,
  options: CreateUserOptions = {},
): Promise<TestUser> {
  const admin = new ApiClient(cp.httpUrl, options.adminKey ?? cp.apiKey);
  const password = options.password ?? newPassword();
  const email =
    options.email ?? `${role.replace('_', '-')}-${randomBytes(4).toString('hex')}@medfleet-test.example`;
  const response = await admin.post('/users', {
    email,
    displayName: options.displayName ?? `Test ${role}`,
    role,
    ...(options.tenantId ? { tenantId: options.tenantId } : {}),
    ...(options.limitedTenantIds ? { limitedTenantIds: options.limitedTenantIds } : {}),
    password,
  });
  if (response.status !== 201) {
    throw new Error(`POST /users for ${role} answered ${response.status}: ${JSON.stringify(response.body)}`);
  }
  const { id, tenantId, organizationId } = response.body as {
    id: string;
    tenantId: string | null;
    organizationId: string;
  };
  return { id, email, role, tenantId, organizationId, password };
}

/** The TOTP code of `secret` at the control plane's identity clock, `offsetSteps` steps of 30 s away. */
export function totpCode(cp: TestControlPlane, secret: Buffer, offsetSteps = 0): string {
  const now = cp.app.get(IdentityClock).now();
  return totp(secret, new Date(now.getTime() + offsetSteps * 30_000));
}

/**
 * Signs a user in with their password over HTTP; an MSP user without TOTP enrolls on the way (as the
 * sign-in demands). Answers the session.
 */
export async function signIn(
  cp: TestControlPlane,
  user: TestUser,
  organization = 'default',
): Promise<SignedInUser> {
  const anonymous = new ApiClient(cp.httpUrl, null);
  const login = await anonymous.post('/auth/login', {
    organization,
    email: user.email,
    password: user.password,
  });
  if (login.status !== 200)
    throw new Error(`sign-in answered ${login.status}: ${JSON.stringify(login.body)}`);
  let result = login.body;
  let totpSecret: Buffer | null = null;
  if (result.status === 'mfa_enrollment_required') {
    const enrollment = await anonymous.post('/auth/mfa/enroll', { mfaToken: result.mfaToken });
    if (enrollment.status !== 200)
      throw new Error(`enroll answered ${enrollment.status}: ${JSON.stringify(enrollment.body)}`);
    totpSecret = base32Decode(enrollment.body.secret);
    const confirmed = await anonymous.post('/auth/mfa/confirm', {
      mfaToken: result.mfaToken,
      code: totpCode(cp, totpSecret),
    });
    if (confirmed.status !== 200)
      throw new Error(`confirm answered ${confirmed.status}: ${JSON.stringify(confirmed.body)}`);
    result = confirmed.body;
  }
  if (result.status !== 'signed_in') throw new Error(`sign-in did not complete: ${JSON.stringify(result)}`);
  const token = result.session.token as string;
  return { user, organization, token, api: new ApiClient(cp.httpUrl, token), totpSecret };
}

/** A signed-in user of the given role (created for the occasion). Practice roles need `tenantId`. */
export async function signInAs(
  cp: TestControlPlane,
  role: Role,
  options: SignInOptions = {},
): Promise<SignedInUser> {
  const user = await createUser(cp, role, options);
  return signIn(cp, user, options.organization);
}

/** A personal API token (mfp_…) of a signed-in user, with the given permissions (default: the role's all). */
export async function personalTokenOf(
  signedIn: SignedInUser,
  permissions?: Permission[],
  days = 30,
): Promise<{ id: string; token: string; api: ApiClient }> {
  const granted = permissions ?? ((await signedIn.api.get('/auth/me')).body.permissions as Permission[]);
  const response = await signedIn.api.post('/auth/tokens', {
    name: `test token ${randomBytes(3).toString('hex')}`,
    permissions: granted,
    expiresAt: new Date(Date.now() + days * 86_400_000).toISOString(),
  });
  if (response.status !== 201)
    throw new Error(`POST /auth/tokens answered ${response.status}: ${JSON.stringify(response.body)}`);
  const { id, token } = response.body as { id: string; token: string };
  return { id, token, api: new ApiClient(signedIn.api.baseUrl, token) };
}
