/** Test fixtures: temporary state directories, hand-made identities and a logger whose lines tests can read. */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentTopicPrefix } from '@medfleet/contracts';
import type { CliIo } from '../cli.js';
import { createLogger, type Logger } from '../logger.js';
import type { AgentIdentity } from '../state.js';

export async function makeTempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'medfleet-agent-'));
}

export async function removeDirs(dirs: string[]): Promise<void> {
  await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
}

export const TEST_MQTT_URL = process.env['TEST_MQTT_URL'] || 'mqtt://127.0.0.1:1883';

export function makeIdentity(overrides: Partial<AgentIdentity> = {}): AgentIdentity {
  const agentId = overrides.agentId ?? randomUUID();
  const tenantId = overrides.tenantId ?? randomUUID();
  const siteId = overrides.siteId ?? randomUUID();
  return {
    agentId,
    organizationId: randomUUID(),
    tenantId,
    siteId,
    certificatePem: '',
    caChainPem: [],
    mqtt: {
      url: TEST_MQTT_URL,
      clientId: agentId,
      username: '',
      password: '',
      topicPrefix: agentTopicPrefix({ tenantId, siteId, agentId }),
      protocolVersion: 5,
    },
    config: { inventoryIntervalSec: 60, healthIntervalSec: 60 },
    siteTimeZone: 'America/New_York',
    server: '127.0.0.1:50051',
    enrolledAt: new Date().toISOString(),
    ...overrides,
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A logger that keeps its JSON lines in memory instead of writing them to stdout. */
export function captureLogger(agentId?: string): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: 'debug',
    ...(agentId ? { agentId } : {}),
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return { logger, lines };
}

/** CLI input and output held in memory; a `run` stops as soon as it has started. */
export function captureIo(env: Record<string, string | undefined> = {}) {
  const output = { out: '', err: '' };
  const io: CliIo = {
    env,
    out: (text) => void (output.out += text),
    err: (text) => void (output.err += text),
    shutdownSignal: () => Promise.resolve('SIGTERM'),
  };
  return { io, output };
}

export const validToken = () => `mfe_${randomUUID()}_${'A1b2C3d4'.repeat(5)}`;
