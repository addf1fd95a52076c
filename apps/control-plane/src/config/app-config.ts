/** The control plane's one configuration, read from the environment once and validated at start. */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().min(1).max(86_400);
const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL with scheme ${protocols.join(' or ')}`,
  );

const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  GRPC_PORT: port.default(50051),
  // gRPC over TLS (agent certificates: mutual TLS) on GRPC_TLS_PORT (default GRPC_PORT + 1); the
  // plaintext GRPC_PORT serves enrollment only, and can be turned off.
  GRPC_TLS_PORT: port.optional(),
  GRPC_PLAINTEXT: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  // host:port agents are told to use for mutual TLS (default GRPC_HOST:GRPC_TLS_PORT).
  GRPC_TLS_PUBLIC_ADDRESS: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
    .optional(),
  // The TLS endpoint's own certificate; without them the control plane issues one from its root CA.
  GRPC_TLS_CERT_FILE: z.string().min(1).optional(),
  GRPC_TLS_KEY_FILE: z.string().min(1).optional(),
  // Agent certificates: lifetime (agents renew when a third is left); the key sealing the CA keys.
  AGENT_CERT_LIFETIME_SEC: z.coerce
    .number()
    .int()
    .min(30)
    .max(400 * 86_400)
    .default(7 * 86_400),
  PKI_KEY_ENCRYPTION_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 random bytes, base64-encoded')
    .optional(),
  // How long an agent waiting for approval is asked to wait between polls.
  ENROLLMENT_POLL_INTERVAL_SEC: z.coerce.number().int().min(1).max(3600).default(30),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  MQTT_URL: url(['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']).optional(),
  MQTT_PUBLIC_URL: url(['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']).optional(),
  MQTT_USERNAME: z.string().min(1).optional(),
  MQTT_PASSWORD: z.string().min(1).optional(),
  MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (no #, + or /)')
    .optional(),
  MQTT_SHARE_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('medfleet-cp'),
  MQTT_SESSION_EXPIRY_SEC: z.coerce.number().int().min(0).max(604_800).default(3600),
  // External Mosquitto 2 with the dynamic-security plugin: the control plane provisions each agent's
  // client and role, as the plugin's admin (MQTT_USERNAME / MQTT_PASSWORD).
  MQTT_DYNSEC: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  MQTT_DYNSEC_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  EMBEDDED_MQTT_PORT: port.default(18830),
  EMBEDDED_PG_PORT: port.default(0),
  DATA_DIR: z.string().min(1).default(path.join(process.cwd(), '.medfleet-data')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INGEST_MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(256 * 1024),
  AGENT_INVENTORY_INTERVAL_SEC: seconds.default(300),
  AGENT_HEALTH_INTERVAL_SEC: seconds.default(60),
  // An agent silent longer than AGENT_SILENCE_INTERVALS health intervals plus the grace is offline and
  // raises an alert; a sweep looks every AGENT_SILENCE_SWEEP_SEC.
  AGENT_SILENCE_INTERVALS: z.coerce.number().int().min(1).max(100).default(3),
  AGENT_SILENCE_GRACE_SEC: z.coerce.number().int().min(0).max(86_400).default(60),
  AGENT_SILENCE_SWEEP_SEC: seconds.default(30),
  // Patch dispatch: how often due jobs are looked for (0: never, for tests that tick by hand), and how long before
  // its window's end a dispatched job must be finished (the work order's deadline).
  DISPATCH_INTERVAL_SEC: z.coerce.number().int().min(0).max(86_400).default(15),
  DISPATCH_DEADLINE_MARGIN_SEC: z.coerce.number().int().min(0).max(7_200).default(300),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  ENROLL_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
  // Identity: sign-in, sessions, personal tokens, OpenID Connect.
  PUBLIC_BASE_URL: url(['http:', 'https:']).optional(),
  SESSION_IDLE_TIMEOUT_SEC: seconds.default(900),
  SESSION_ABSOLUTE_TIMEOUT_SEC: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(8 * 3600),
  SIGN_IN_MAX_FAILED_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  SIGN_IN_LOCKOUT_SEC: seconds.default(900),
  SIGN_IN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
  PASSWORD_HASH_MEMORY_KIB: z.coerce.number().int().min(1024).max(1_048_576).default(19_456),
  PASSWORD_HASH_ITERATIONS: z.coerce.number().int().min(1).max(20).default(2),
  PERSONAL_TOKEN_MAX_DAYS: z.coerce.number().int().min(1).max(366).default(365),
  SECRETS_ENCRYPTION_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 random bytes, base64-encoded')
    .optional(),
  OIDC_ALLOW_HTTP_ISSUERS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  OIDC_LOGIN_TIMEOUT_SEC: seconds.default(600),
  // Audit trail: checkpoint signing key, checkpoint spacing, retention (HIPAA: at least six years).
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(100),
  AUDIT_RETENTION_YEARS: z.coerce
    .number()
    .int()
    .min(6, 'must be at least 6 (HIPAA keeps documentation six years)')
    .max(100)
    .default(6),
});

export type AppConfig = z.infer<typeof schema> & {
  /** Embedded PGlite when no DATABASE_URL is given. */
  embeddedDatabase: boolean;
  /** Embedded Aedes when no MQTT_URL is given. */
  embeddedBroker: boolean;
  mqttClientId: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the configuration; unknown MEDFLEET-irrelevant variables are ignored, bad ones throw naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const input = Object.fromEntries(Object.keys(schema.shape).map((key) => [key, emptyToUndefined(env[key])]));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '?'),
        message: issue.message,
      })),
    );
  }
  const config = parsed.data;
  if ((config.GRPC_TLS_CERT_FILE === undefined) !== (config.GRPC_TLS_KEY_FILE === undefined)) {
    throw new ConfigError([
      {
        variable: config.GRPC_TLS_CERT_FILE ? 'GRPC_TLS_KEY_FILE' : 'GRPC_TLS_CERT_FILE',
        message: 'GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together',
      },
    ]);
  }
  if (config.MQTT_DYNSEC) {
    const missing = (['MQTT_URL', 'MQTT_USERNAME', 'MQTT_PASSWORD'] as const).filter((key) => !config[key]);
    if (missing.length > 0) {
      throw new ConfigError(
        missing.map((variable) => ({
          variable,
          message: 'is required when MQTT_DYNSEC=true (the dynamic-security admin on an external broker)',
        })),
      );
    }
  }
  return {
    ...config,
    DATA_DIR: path.resolve(config.DATA_DIR),
    embeddedDatabase: config.DATABASE_URL === undefined,
    embeddedBroker: config.MQTT_URL === undefined,
    mqttClientId:
      config.MQTT_CLIENT_ID ?? `medfleet-cp-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}-${process.pid}`,
  };
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
