/**
 * Where the current request came from (source IP, user agent), carried to AuditService.record through
 * AsyncLocalStorage so that services need not thread it through every call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { clipText } from './audit-values.util.js';

export interface AuditSource {
  ip: string | null;
  userAgent: string | null;
}

export const MAX_USER_AGENT = 512;

@Injectable()
export class AuditRequestContext {
  private readonly storage = new AsyncLocalStorage<AuditSource>();

  run<T>(source: AuditSource, work: () => T): T {
    return this.storage.run(source, work);
  }

  /** The current request's source, or nulls outside a request (CLI, background work, gRPC). */
  current(): AuditSource {
    return this.storage.getStore() ?? { ip: null, userAgent: null };
  }
}

/** Runs every HTTP handler inside the request's audit source. */
@Injectable()
export class AuditContextInterceptor implements NestInterceptor {
  constructor(private readonly context: AuditRequestContext) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<Request>();
    const source: AuditSource = {
      ip: normalizeIp(request.ip ?? request.socket?.remoteAddress),
      userAgent: clipText(request.headers['user-agent'], MAX_USER_AGENT),
    };
    // The handler is bound to the async context in which `handle()` is called.
    return this.context.run(source, () => next.handle());
  }
}

/** A literal IP address, IPv4-mapped IPv6 shown as IPv4, without zone; anything else is dropped. */
export function normalizeIp(value: string | null | undefined): string | null {
  if (!value) return null;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(value);
  // A zone index (`fe80::1%eth0`) is local to the host and not a valid inet value.
  const ip = mapped ? (mapped[1] as string) : (value.split('%')[0] as string);
  return isIP(ip) === 0 ? null : ip.toLowerCase();
}
