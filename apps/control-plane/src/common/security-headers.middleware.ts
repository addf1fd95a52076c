/**
 * Security headers for every HTTP answer. The API serves JSON only, so its policy forbids everything a
 * browser could load from it; the OpenAPI UI under /api/docs gets the minimum it needs to render.
 */
import type { NextFunction, Request, Response } from 'express';

const API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_POLICY =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function securityHeaders(request: Request, response: Response, next: NextFunction): void {
  const docs = request.path.startsWith('/api/docs');
  response.setHeader('Content-Security-Policy', docs ? DOCS_POLICY : API_POLICY);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  response.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  response.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  if (!docs) response.setHeader('Cache-Control', 'no-store');
  next();
}
