/**
 * Identity: people (organization staff and practice staff), their sign-in material (argon2id password
 * hashes, TOTP secrets), sessions, personal API tokens, and per-organization OpenID Connect connections.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { APP_ROLE } from './1764720000000-foundation.js';

export class Identity1764720200000 implements MigrationInterface {
  name = 'Identity1764720200000';

  async up(db: QueryRunner): Promise<void> {
    // A practice user's tenant must belong to the user's organization: the composite key makes that a
    // constraint rather than a hope.
    await db.query(`CREATE UNIQUE INDEX tenants_organization_id_id_key ON tenants (organization_id, id)`);

    // MSP staff have no tenant (they act across the organization's tenants, or the listed ones for a
    // limited technician); practice staff belong to exactly one tenant. Users are disabled, never deleted,
    // so the audit trail keeps naming them.
    await db.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        tenant_id uuid,
        email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
        role text NOT NULL
          CHECK (role IN ('msp_admin', 'msp_technician', 'auditor', 'practice_admin', 'practice_viewer')),
        limited_tenant_ids uuid[] CHECK (limited_tenant_ids IS NULL OR cardinality(limited_tenant_ids) > 0),
        password_hash text,
        password_changed_at timestamptz,
        totp_secret text,
        totp_pending_secret text,
        totp_enrolled_at timestamptz,
        totp_last_step bigint,
        failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
        locked_until timestamptz,
        disabled_at timestamptz,
        last_sign_in_at timestamptz,
        oidc_issuer text,
        oidc_subject text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (organization_id, email),
        UNIQUE (organization_id, oidc_issuer, oidc_subject),
        FOREIGN KEY (organization_id, tenant_id) REFERENCES tenants (organization_id, id),
        CHECK ((role IN ('practice_admin', 'practice_viewer')) = (tenant_id IS NOT NULL)),
        CHECK (limited_tenant_ids IS NULL OR role = 'msp_technician'),
        CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL))
      )`);
    await db.query(`CREATE INDEX users_tenant_idx ON users (tenant_id, id) WHERE tenant_id IS NOT NULL`);

    // Organization principals see their organization's users; tenant-scoped principals (practice staff)
    // see the users of their tenants only, never the MSP's staff.
    await db.query(`ALTER TABLE users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY users_scope ON users
        USING (organization_id = (SELECT medfleet_org_id())
               OR tenant_id = ANY ((SELECT medfleet_explicit_tenants())::uuid[]))
        WITH CHECK (organization_id = (SELECT medfleet_org_id())
               OR tenant_id = ANY ((SELECT medfleet_explicit_tenants())::uuid[]))`);

    // Sign-in names an organization by its slug before anyone is authenticated: a transaction that sets
    // medfleet.org_slug may see that one organization (a slug is typed into a form, not a secret).
    await db.query(`
      CREATE POLICY organizations_slug_lookup ON organizations FOR SELECT
        USING (slug = nullif(current_setting('medfleet.org_slug', true), ''))`);

    // Sessions and personal tokens. They carry the user's tenant (practice staff) so that practice-scoped
    // transactions reach them like the users themselves; they hold only SHA-256 hashes of 256-bit secrets.
    await db.query(`
      CREATE TABLE user_sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        tenant_id uuid,
        token_hash bytea NOT NULL,
        stage text NOT NULL CHECK (stage IN ('full', 'mfa_enrollment', 'mfa_verification')),
        method text NOT NULL CHECK (method IN ('password', 'oidc')),
        mfa boolean NOT NULL,
        ip text,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        FOREIGN KEY (organization_id, tenant_id) REFERENCES tenants (organization_id, id)
      )`);
    await db.query(`CREATE INDEX user_sessions_user_idx ON user_sessions (user_id) WHERE revoked_at IS NULL`);

    await db.query(`
      CREATE TABLE personal_tokens (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        tenant_id uuid,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        token_hash bytea NOT NULL,
        permissions text[] NOT NULL CHECK (cardinality(permissions) > 0),
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz,
        FOREIGN KEY (organization_id, tenant_id) REFERENCES tenants (organization_id, id)
      )`);
    await db.query(`CREATE INDEX personal_tokens_user_idx ON personal_tokens (user_id, id)`);

    // A bearer credential is looked up before any scope exists: the transaction that checks one names it in
    // medfleet.credential (the id in the token, or a login state's hash) and may see that one row only.
    await db.query(`
      CREATE FUNCTION medfleet_credential() RETURNS text LANGUAGE sql STABLE AS $$
        SELECT nullif(current_setting('medfleet.credential', true), '')
      $$`);
    for (const table of ['user_sessions', 'personal_tokens']) {
      await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await db.query(`
        CREATE POLICY ${table}_scope ON ${table}
          USING (organization_id = (SELECT medfleet_org_id())
                 OR tenant_id = ANY ((SELECT medfleet_explicit_tenants())::uuid[])
                 OR id::text = (SELECT medfleet_credential()))
          WITH CHECK (organization_id = (SELECT medfleet_org_id())
                 OR tenant_id = ANY ((SELECT medfleet_explicit_tenants())::uuid[]))`);
    }

    // One OpenID Connect connection per organization. The client secret is stored so the control plane can
    // use it at the token endpoint: encrypted with SECRETS_ENCRYPTION_KEY when that is set.
    await db.query(`
      CREATE TABLE oidc_connections (
        organization_id uuid PRIMARY KEY REFERENCES organizations (id),
        issuer text NOT NULL,
        client_id text NOT NULL,
        client_secret text NOT NULL,
        allowed_email_domains text[] NOT NULL CHECK (cardinality(allowed_email_domains) > 0),
        new_user_role text
          CHECK (new_user_role IN ('msp_admin', 'msp_technician', 'auditor', 'practice_admin', 'practice_viewer')),
        new_user_tenant_id uuid,
        mfa_amr_values text[] NOT NULL,
        enabled boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (organization_id, new_user_tenant_id) REFERENCES tenants (organization_id, id),
        CHECK ((new_user_role IN ('practice_admin', 'practice_viewer')) = (new_user_tenant_id IS NOT NULL))
      )`);
    await db.query(`ALTER TABLE oidc_connections ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(
      `CREATE POLICY oidc_connections_scope ON oidc_connections USING (organization_id = (SELECT medfleet_org_id()))`,
    );

    // A started OpenID Connect sign-in, kept server-side: found by the hash of its `state`, used once.
    await db.query(`
      CREATE TABLE oidc_login_states (
        state_hash bytea PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        code_verifier text NOT NULL,
        nonce text NOT NULL,
        redirect_uri text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz
      )`);
    await db.query(
      `CREATE INDEX oidc_login_states_expiry_idx ON oidc_login_states (organization_id, expires_at)`,
    );
    await db.query(`ALTER TABLE oidc_login_states ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await db.query(`
      CREATE POLICY oidc_login_states_scope ON oidc_login_states
        USING (organization_id = (SELECT medfleet_org_id())
               OR encode(state_hash, 'hex') = (SELECT medfleet_credential()))
        WITH CHECK (organization_id = (SELECT medfleet_org_id())
               OR encode(state_hash, 'hex') = (SELECT medfleet_credential()))`);
    await db.query(`GRANT SELECT, INSERT ON users TO ${APP_ROLE}`);
    await db.query(`
      GRANT UPDATE (display_name, role, limited_tenant_ids, password_hash, password_changed_at, totp_secret,
                    totp_pending_secret, totp_enrolled_at, totp_last_step, failed_attempts, locked_until,
                    disabled_at, last_sign_in_at, oidc_issuer, oidc_subject, updated_at)
        ON users TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON user_sessions, personal_tokens TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (last_seen_at, revoked_at) ON user_sessions TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (last_used_at, revoked_at) ON personal_tokens TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT ON oidc_connections TO ${APP_ROLE}`);
    await db.query(`
      GRANT UPDATE (issuer, client_id, client_secret, allowed_email_domains, new_user_role, new_user_tenant_id,
                    mfa_amr_values, enabled, updated_at)
        ON oidc_connections TO ${APP_ROLE}`);
    await db.query(`GRANT SELECT, INSERT, DELETE ON oidc_login_states TO ${APP_ROLE}`);
    await db.query(`GRANT UPDATE (consumed_at) ON oidc_login_states TO ${APP_ROLE}`);
    await db.query(`GRANT EXECUTE ON FUNCTION medfleet_credential() TO ${APP_ROLE}`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of [
      'oidc_login_states',
      'oidc_connections',
      'personal_tokens',
      'user_sessions',
      'users',
    ]) {
      await db.query(`DROP TABLE ${table}`);
    }
    await db.query(`DROP FUNCTION medfleet_credential()`);
    await db.query(`DROP POLICY organizations_slug_lookup ON organizations`);
    await db.query(`DROP INDEX tenants_organization_id_id_key`);
  }
}
