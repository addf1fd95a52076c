/**
 * The actions identity records in the audit trail (the audit module's `resource.verb` form). Each is
 * recorded in the transaction that makes the change, so nothing here happens unrecorded.
 */
export const IdentityAuditAction = {
  signIn: 'auth.sign_in',
  signInFailed: 'auth.sign_in_failed',
  signOut: 'auth.sign_out',
  mfaEnroll: 'auth.mfa_enroll',
  passwordChange: 'auth.password_change',
  userCreate: 'user.create',
  userUpdate: 'user.update',
  userDisable: 'user.disable',
  userEnable: 'user.enable',
  userMfaReset: 'user.mfa_reset',
  tokenCreate: 'personal_token.create',
  tokenRevoke: 'personal_token.revoke',
  ssoConnectionUpdate: 'sso_connection.update',
} as const;
