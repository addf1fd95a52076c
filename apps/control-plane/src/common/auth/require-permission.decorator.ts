import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Permission } from './permissions.js';

export const REQUIRED_PERMISSION = 'medfleet:permission';

/**
 * Declares the one permission a route needs. Every non-public route must declare one: the guard refuses
 * (and logs) a route that does not, so a forgotten declaration fails closed.
 */
export const RequirePermission = (permission: Permission) =>
  applyDecorators(
    SetMetadata(REQUIRED_PERMISSION, permission),
    ApiExtension('x-medfleet-permission', permission),
    ApiUnauthorizedResponse({ description: 'UNAUTHENTICATED' }),
    ApiForbiddenResponse({ description: `FORBIDDEN: needs ${permission}` }),
  );
