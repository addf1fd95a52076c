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
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  ENROLL_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
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
