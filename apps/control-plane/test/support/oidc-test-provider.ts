/**
 * A real OpenID Provider for tests (the `oidc-provider` package) on a free loopback port, with a minimal
 * login page of its own: the test "types" who signs in and which authentication methods (`amr`) the
 * provider reports, and consent is given with the login. Plus a tiny browser (cookie jar, manual redirects)
 * to walk the redirects as a person's browser would.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';

export interface TestAccount {
  email: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export interface TestOpenIdProvider {
  issuer: string;
  /** Accounts by subject (`sub`); add to it freely. */
  accounts: Map<string, TestAccount>;
  close(): Promise<void>;
}

export async function startOpenIdProvider(clients: TestClient[]): Promise<TestOpenIdProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, TestAccount>();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [client.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    // Like Entra ID: the authentication methods (`amr`) always travel in the ID token.
    claims: {
      acr: null,
      iss: null,
      sid: null,
      openid: ['sub', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Like Entra ID and Google: the profile claims travel in the ID token itself.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...account }) };
    },
  });

  // The login page: GET shows a form; POST signs the named account in with the given amr and consents.
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url ?? '');
    if (!match) {
      provider.callback()(req, res);
      return;
    }
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html');
        res.end(
          `<form method="post" action="/interaction/${details.uid}/login"><input name="login"><input name="amr"></form>`,
        );
        return;
      }
      const form = new URLSearchParams(await readBody(req));
      const accountId = form.get('login') ?? '';
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      await provider.interactionFinished(
        req,
        res,
        {
          login: { accountId, amr: (form.get('amr') ?? 'pwd').split(',').filter(Boolean) },
          consent: { grantId: await grant.save() },
        },
        { mergeWithLastSubmission: false },
      );
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });

  return {
    issuer,
    accounts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export interface BrowserResponse {
  status: number;
  location: string | null;
  body: string;
  url: string;
}

/** A browser just capable enough for redirect flows: keeps cookies per host, follows nothing by itself. */
export class TestBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<BrowserResponse> {
    const target = new URL(url);
    const cookies = this.jar.get(target.host);
    const headers: Record<string, string> = {};
    if (cookies?.size) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      redirect: 'manual',
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...value] = (pair as string).split('=');
      const hostJar = this.jar.get(target.host) ?? new Map<string, string>();
      if (/expires=Thu, 01 Jan 1970/i.test(cookie)) hostJar.delete((name as string).trim());
      else hostJar.set((name as string).trim(), value.join('='));
      this.jar.set(target.host, hostJar);
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location ? new URL(location, url).href : null,
      body: await response.text(),
      url,
    };
  }

  /** Follows redirects from `url` until one leads to `stopAt` (not requested) or a page answers. */
  async follow(url: string, stopAt?: string): Promise<BrowserResponse> {
    let response = await this.request(url);
    for (let hops = 0; response.location && hops < 20; hops++) {
      if (stopAt && response.location.startsWith(stopAt)) return response;
      response = await this.request(response.location);
    }
    return response;
  }
}
