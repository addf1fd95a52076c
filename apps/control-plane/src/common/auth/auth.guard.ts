/** Authenticates every HTTP request (unless the route is @Public) and checks the route's declared permission. */
import { HttpStatus, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppException, ErrorCode } from '../errors/app-exception.js';
import { AuthenticationService } from './authentication.service.js';
import { PRINCIPAL } from './auth.decorator.js';
import type { Permission } from './permissions.js';
import { IS_PUBLIC } from './public.decorator.js';
import { REQUIRED_PERMISSION } from './require-permission.decorator.js';

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger(AuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly authentication: AuthenticationService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = context.switchToHttp().getRequest<Request & Record<symbol, unknown>>();
    const header = request.headers.authorization;
    const token =
      typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) {
      throw new AppException(ErrorCode.UNAUTHENTICATED, HttpStatus.UNAUTHORIZED, 'Missing bearer credential');
    }
    const principal = await this.authentication.authenticate(token, { ip: request.ip });
    if (!principal) {
      throw new AppException(
        ErrorCode.UNAUTHENTICATED,
        HttpStatus.UNAUTHORIZED,
        'Invalid, expired or revoked credential',
      );
    }
    request[PRINCIPAL] = principal;

    const required = this.reflector.getAllAndOverride<Permission | undefined>(REQUIRED_PERMISSION, targets);
    if (!required) {
      // Fail closed: a route that forgot to declare its permission is refused, loudly.
      this.logger.error({
        msg: 'route declares no permission',
        route: `${request.method} ${request.route?.path ?? request.path}`,
      });
      throw new AppException(ErrorCode.FORBIDDEN, HttpStatus.FORBIDDEN, 'This route declares no permission');
    }
    if (!principal.permissions.has(required)) {
      throw new AppException(
        ErrorCode.FORBIDDEN,
        HttpStatus.FORBIDDEN,
        `This action needs the ${required} permission`,
        {
          permission: required,
          role: principal.role,
        },
      );
    }
    return true;
  }
}
