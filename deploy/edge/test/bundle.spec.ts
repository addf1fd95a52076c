import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentVersion, buildBundle, mode, removeTempDirs, run, tempDir, workspaceRoot } from './helpers.js';

const MQTT_URL = process.env['TEST_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883';

describe('edge-agent bundle', () => {
  let bundle: string;
  let main: string;

  beforeAll(() => {
    // Copied away from the workspace, so nothing can resolve through the repository's node_modules.
    const built = buildBundle();
    bundle = path.join(tempDir('copy'), 'opt-medfleet-agent');
    fs.cpSync(built, bundle, { recursive: true });
    main = path.join(bundle, 'dist/main.js');
  });
  afterAll(removeTempDirs);

  it('is one JavaScript file plus better-sqlite3 and its native binary', () => {
    const jsFiles = fs
      .readdirSync(bundle, { recursive: true, encoding: 'utf8' })
      .filter((file) => /\.(m|c)?js$/.test(file) && !file.startsWith('node_modules'));
    expect(jsFiles).toEqual(['dist/main.js']);
    expect(fs.readdirSync(path.join(bundle, 'node_modules')).sort()).toEqual([
      'better-sqlite3',
      'bindings',
      'file-uri-to-path',
    ]);
    expect(
      fs.existsSync(path.join(bundle, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')),
    ).toBe(true);
    expect(fs.readdirSync(path.join(bundle, 'proto/medfleet/v1')).sort()).toEqual([
      'agent_sync.proto',
      'enrollment.proto',
    ]);
    const manifest = JSON.parse(fs.readFileSync(path.join(bundle, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: 'medfleet-agent', version: agentVersion, type: 'module' });
  });

  it("keeps src/main.ts's #! line and is executable", () => {
    const source = fs.readFileSync(path.join(workspaceRoot, 'apps/edge-agent/src/main.ts'), 'utf8');
    const shebang = source.split('\n', 1)[0];
    expect(shebang).toBe('#!/usr/bin/env -S node --lite-mode --no-expose-wasm --max-semi-space-size=1');
    expect(fs.readFileSync(main, 'utf8').split('\n', 1)[0]).toBe(shebang);
    expect(mode(main)).toBe(0o755);
  });

  it('runs --help and --version through its #! line', () => {
    const help = run(main, ['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: medfleet-agent <command> [options]');
    const version = run(main, ['--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(agentVersion);
  });

  it('loads the contract .proto files for enroll (fails only at the connection)', () => {
    const stateDir = tempDir('enroll');
    const token = `mfe_${randomUUID()}_${'a'.repeat(40)}`;
    const result = run(main, [
      'enroll',
      '--server',
      '127.0.0.1:1',
      '--token',
      token,
      '--insecure',
      '--state-dir',
      stateDir,
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('enrollment with 127.0.0.1:1 failed: UNAVAILABLE');
    expect(fs.existsSync(path.join(stateDir, 'identity.json'))).toBe(false);
  });

  it('runs against the broker with a stored identity and a durable (SQLite) outbox', async () => {
    const stateDir = tempDir('state');
    fs.chmodSync(stateDir, 0o700);
    const tenantId = randomUUID();
    const agentId = randomUUID();
    const siteId = randomUUID();
    const identity = {
      agentId,
      organizationId: 'org-bundle-test',
      tenantId,
      siteId,
      certificatePem: '',
      caChainPem: [],
      mqtt: {
        url: MQTT_URL,
        clientId: `bundle-test-${agentId}`,
        username: '',
        password: '',
        topicPrefix: `medfleet/v1/t/${tenantId}/a/${agentId}`,
        protocolVersion: 5,
      },
      config: { inventoryIntervalSec: 1, healthIntervalSec: 1 },
      siteTimeZone: 'America/New_York',
      server: '127.0.0.1:1',
      enrolledAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(stateDir, 'identity.json'), JSON.stringify(identity), { mode: 0o600 });

    const subscriber: MqttClient = await connectAsync(MQTT_URL, { clientId: `bundle-test-sub-${agentId}` });
    const received: { topic: string; body: { agentId?: string; seq?: number } }[] = [];
    subscriber.on('message', (topic, payload) =>
      received.push({ topic, body: JSON.parse(payload.toString()) }),
    );
    await subscriber.subscribeAsync(`medfleet/v1/t/${tenantId}/#`, { qos: 1 });
    try {
      const agent = spawn(main, ['run', '--state-dir', stateDir, '--devices', '3'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, MEDFLEET_LOG_LEVEL: 'info' },
      });
      let output = '';
      agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      agent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));

      const deadline = Date.now() + 20_000;
      while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      agent.kill('SIGTERM');
      expect(await exited, output).toBe(0);

      expect(received.length, output).toBeGreaterThanOrEqual(2);
      expect(received.every((message) => message.body.agentId === agentId)).toBe(true);
      expect(received.map((message) => message.topic.split('/').at(-1))).toEqual(
        expect.arrayContaining(['inventory', 'health']),
      );
      expect(output).toContain('"outboxDurable":true');
      expect(mode(path.join(stateDir, 'outbox.db'))).toBe(0o600);
    } finally {
      await subscriber.endAsync();
    }
  });
});
