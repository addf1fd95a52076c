/**
 * Turns a bearer credential into a principal. Each kind of credential registers a resolver under its
 * prefix (`mfk_` organization API keys here; sessions and personal tokens from the identity module).
 */
import { Injectable } from '@nestjs/common';
import type { Principal } from './principal.js';

export interface CredentialResolver {
  resolve(token: string, context: { ip: string | undefined }): Promise<Principal | null>;
}

@Injectable()
export class AuthenticationService {
  private readonly resolvers = new Map<string, CredentialResolver>();

  register(prefix: string, resolver: CredentialResolver): void {
    if (this.resolvers.has(prefix)) throw new Error(`a resolver for ${prefix} is already registered`);
    this.resolvers.set(prefix, resolver);
  }

  async authenticate(token: string, context: { ip: string | undefined }): Promise<Principal | null> {
    const prefix = token.slice(0, token.indexOf('_') + 1);
    const resolver = prefix ? this.resolvers.get(prefix) : undefined;
    return resolver ? resolver.resolve(token, context) : null;
  }
}
