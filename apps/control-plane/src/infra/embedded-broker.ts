/**
 * The embedded default MQTT broker: Aedes in process, on its own port. It speaks MQTT 3.1.1 only and has
 * no shared subscriptions (one control-plane process subscribes plainly). Its hooks enforce protocol
 * v1's access rules: an agent may publish only under its own topic prefix and subscribe only to its own
 * commands; ids with MQTT wildcards or level separators are refused outright.
 */
import net from 'node:net';
import { UPLINK_STREAMS, agentTopicPrefix, parseTopic } from '@medfleet/contracts';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import { freePort } from './embedded-postgres.js';

/** Looks up an agent's MQTT secret; resolves to its topic address when the secret matches. */
export type AgentCredentialCheck = (
  agentId: string,
  secret: string,
) => Promise<{ tenantId: string; siteId: string; agentId: string } | null>;

export interface EmbeddedBroker {
  url: string;
  /** The control plane's own credentials on this broker. */
  username: string;
  password: string;
  /** Connects the broker's authentication to the database once the application is up. */
  useCredentialCheck(check: AgentCredentialCheck): void;
  /** Closes a client's connection now (a revoked agent). */
  disconnect(clientId: string): void;
  stop(): Promise<void>;
}

const SERVICE_USER = 'medfleet-control-plane';
const FORBIDDEN_ID = /[#+/]/;

interface ClientIdentity {
  service: boolean;
  prefix?: string;
}

export async function startEmbeddedBroker(port: number, servicePassword: string): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  let check: AgentCredentialCheck | null = null;
  const identities = new WeakMap<Client, ClientIdentity>();

  const refuse = (code: number, message: string): AuthenticateError =>
    Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;

  const broker: Aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const secret = password?.toString('utf8') ?? '';
      if (!username || FORBIDDEN_ID.test(username) || FORBIDDEN_ID.test(client.id)) {
        return done(refuse(2, 'identifier rejected'), false);
      }
      if (username === SERVICE_USER) {
        const ok = secret === servicePassword;
        if (ok) identities.set(client, { service: true });
        return ok ? done(null, true) : done(refuse(4, 'bad username or password'), false);
      }
      if (client.id !== username || !check) return done(refuse(4, 'bad username or password'), false);
      check(username, secret).then(
        (address) => {
          if (!address) return done(refuse(4, 'bad username or password'), false);
          identities.set(client, { service: false, prefix: agentTopicPrefix(address) });
          done(null, true);
        },
        () => done(refuse(3, 'server unavailable'), false),
      );
    },
    authorizePublish(client, packet, callback) {
      const identity = client ? identities.get(client) : undefined;
      if (identity?.service) return callback(null);
      const parsed = parseTopic(packet.topic);
      const allowed =
        identity?.prefix !== undefined &&
        parsed?.direction === 'uplink' &&
        (UPLINK_STREAMS as readonly string[]).includes(parsed.stream) &&
        packet.topic === `${identity.prefix}/${parsed.stream}`;
      callback(allowed ? null : new Error(`publish to ${packet.topic} not allowed`));
    },
    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client);
      if (identity?.service) return callback(null, subscription);
      const topic = subscription.topic;
      const parsed = parseTopic(topic);
      const own =
        identity?.prefix !== undefined &&
        (topic === `${identity.prefix}/cmd/+` ||
          (parsed?.direction === 'downlink' && topic.startsWith(`${identity.prefix}/cmd/`)));
      callback(own ? null : new Error(`subscription to ${topic} not allowed`), own ? subscription : null);
    },
  });

  const listenPort = port === 0 ? await freePort() : port;
  const server = net.createServer(broker.handle as (socket: net.Socket) => void);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });

  return {
    url: `mqtt://127.0.0.1:${listenPort}`,
    username: SERVICE_USER,
    password: servicePassword,
    useCredentialCheck(next) {
      check = next;
    },
    disconnect(clientId) {
      const client = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[clientId];
      client?.close();
    },
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
