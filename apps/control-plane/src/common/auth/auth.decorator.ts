import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from './principal.js';

export const PRINCIPAL = Symbol('medfleet:principal');

/**
 * The authenticated principal of the request. Fails loudly when the guard did not run (a route wrongly
 * marked public, a guard removed), instead of letting a handler work without a scope.
 */
export const Auth = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const request = context.switchToHttp().getRequest<Record<symbol, Principal | undefined>>();
  const principal = request[PRINCIPAL];
  if (!principal) {
    throw new Error('@Auth() used on a route whose request was not authenticated by AuthGuard');
  }
  return principal;
});
