import type { Permission } from '../../common/auth/permissions.js';

/**
 * The permission the self-service routes declare (who am I, sign out, change my password, set up MFA, my
 * personal tokens). They act on the caller's own account only; every role holds it.
 */
export const SELF_SERVICE_PERMISSION: Permission = 'account:self';
