/**
 * Test environment: a control plane against real PostgreSQL and MQTT when TEST_DATABASE_URL and
 * TEST_MQTT_URL are set (CI), or against the embedded PGlite and Aedes when they are not (a newcomer's
 * laptop). Each run gets a database of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane.js';
import { freePort } from '../../src/infra/embedded-postgres.js';
import { createLogger } from '../../src/infra/logger.js';

export const realDatabase = process.env.TEST_DATABASE_URL;
export const realBroker = process.env.TEST_MQTT_URL;

export interface TestDatabase {
  url: string | undefined;
  drop(): Promise<void>;
}

/** Creates a fresh database on the real server, or nothing for the embedded one. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!realDatabase) return { url: undefined, drop: () => Promise.resolve() };
  const name = `medfleet_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: realDatabase });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(realDatabase);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: realDatabase });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface TestControlPlane extends RunningControlPlane {
  config: AppConfig;
  apiKey: string;
  /** A direct connection as the owner (superuser) for arranging and inspecting state in tests. */
  owner(): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startTestControlPlane(env: Record<string, string> = {}): Promise<TestControlPlane> {
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-test-'));
  const config = loadConfig({
    PORT: String(await freePort()),
    GRPC_PORT: String(await freePort()),
    // Never the default (GRPC_PORT + 1): that port was not checked, and parallel test runs take ports too.
    GRPC_TLS_PORT: String(await freePort()),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    MQTT_SHARE_GROUP: `test-${randomBytes(4).toString('hex')}`,
    // Tests enroll many agents from one address; the limit itself is tested with a low value.
    ENROLL_RATE_LIMIT_PER_MINUTE: '10000',
    // A test's consumer must not leave a session behind that keeps receiving its share of messages.
    MQTT_SESSION_EXPIRY_SEC: '0',
    // The dispatcher ticks when a test says so (it also gives agents the work-order key, a new config version).
    DISPATCH_INTERVAL_SEC: '0',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(realBroker ? { MQTT_URL: realBroker } : {}),
    ...env,
  });
  const running = await startControlPlane(config, createLogger(config.LOG_LEVEL));
  if (!running.initialApiKey) throw new Error('a fresh database must bootstrap an API key');
  return {
    ...running,
    config,
    apiKey: running.initialApiKey,
    async owner() {
      const client = new pg.Client({ connectionString: running.databaseUrl });
      await client.connect();
      return client;
    },
    async stop() {
      await running.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
