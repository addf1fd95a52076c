#!/usr/bin/env node
/**
 * `npm run demo`: the control plane on the embedded default plus three simulated clinics (two in
 * Miami-Dade, one in Broward), each a tenant with one site whose edge agent enrolls itself over gRPC and
 * reports over MQTT. With `--smoke` it exits 0 once the API lists every clinic's devices (CI uses it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEMO_CLINICS, createClinic } from '@medfleet/simulator';
import { loadConfig } from './config/app-config.js';
import { startControlPlane } from './control-plane.js';
import { createLogger } from './infra/logger.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const workspaceRoot = findUp(here, 'nx.json');
const agentCli = path.join(workspaceRoot, 'apps/edge-agent/dist/main.js');

function findUp(start: string, marker: string): string {
  for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, marker))) return dir;
  }
  throw new Error(`no ${marker} above ${start}`);
}

async function api<T>(base: string, key: string, method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await response.json()) as T;
  if (!response.ok) throw new Error(`${method} ${route} → ${response.status} ${JSON.stringify(json)}`);
  return json;
}

function run(command: string, args: string[], log: string): ChildProcess {
  const child = spawn(process.execPath, [command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(log, { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { smoke: { type: 'boolean' }, 'timeout-sec': { type: 'string' } },
  });
  const smoke = values.smoke === true;
  const timeoutMs = Number(values['timeout-sec'] ?? 60) * 1000;
  if (!existsSync(agentCli)) {
    process.stderr.write(
      `The edge agent is not built (${agentCli}); run \`npm run demo\`, which builds it.\n`,
    );
    return 1;
  }

  const env = {
    AGENT_INVENTORY_INTERVAL_SEC: '30',
    AGENT_HEALTH_INTERVAL_SEC: '15',
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(workspaceRoot, '.medfleet-data', smoke ? 'smoke' : 'demo'),
    ...process.env,
  };
  const config = loadConfig(env);
  // A demo starts from a clean slate every time, so its API key can be shown again.
  rmSync(config.DATA_DIR, { recursive: true, force: true });
  mkdirSync(path.join(config.DATA_DIR, 'agents'), { recursive: true });

  const cp = await startControlPlane(config, createLogger(config.LOG_LEVEL));
  const agents: ChildProcess[] = [];
  const shutdown = async () => {
    for (const child of agents) child.kill('SIGTERM');
    await Promise.all(agents.map((child) => (child.exitCode === null ? exited(child) : Promise.resolve(0))));
    await cp.close();
  };

  try {
    const key = cp.initialApiKey as string;
    for (const clinic of DEMO_CLINICS) {
      const tenant = await api<{ id: string }>(cp.httpUrl, key, 'POST', '/tenants', { name: clinic.name });
      const site = await api<{ id: string }>(cp.httpUrl, key, 'POST', '/sites', {
        tenantId: tenant.id,
        name: `${clinic.name} – ${clinic.address.city}`,
        addressLine: clinic.address.street,
        city: clinic.address.city,
        state: clinic.address.state,
        postalCode: clinic.address.zip,
        county: clinic.county,
        timeZone: clinic.timeZone,
      });
      const { token } = await api<{ token: string }>(cp.httpUrl, key, 'POST', '/enrollment-tokens', {
        siteId: site.id,
        label: `demo agent for ${clinic.key}`,
      });
      const stateDir = path.join(config.DATA_DIR, 'agents', clinic.key);
      const log = `${stateDir}.log`;
      const enroll = run(
        agentCli,
        ['enroll', '--server', cp.grpcAddress, '--token', token, '--state-dir', stateDir, '--insecure'],
        log,
      );
      const code = await exited(enroll);
      if (code !== 0) throw new Error(`enrollment of ${clinic.key} failed (exit ${code}); see ${log}`);
      agents.push(
        run(
          agentCli,
          [
            'run',
            '--state-dir',
            stateDir,
            '--simulate-seed',
            clinic.seed,
            '--devices',
            String(clinic.deviceCount),
          ],
          log,
        ),
      );
    }

    const expected = DEMO_CLINICS.reduce(
      (sum, clinic) => sum + createClinic(clinic).snapshot(new Date()).length,
      0,
    );
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < deadline) {
      seen = 0;
      let cursor: string | null = null;
      do {
        const page: { items: unknown[]; nextCursor: string | null } = await api(
          cp.httpUrl,
          key,
          'GET',
          `/devices?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen += page.items.length;
        cursor = page.nextCursor;
      } while (cursor);
      if (seen >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (seen < expected)
      throw new Error(`only ${seen} of ${expected} devices arrived within ${timeoutMs / 1000} s`);

    const agentsPage = await api<{ items: { status: string; siteId: string }[] }>(
      cp.httpUrl,
      key,
      'GET',
      '/agents',
    );
    const online = agentsPage.items.filter((agent) => agent.status === 'online').length;
    process.stdout.write(
      [
        '',
        `Medfleet demo: ${DEMO_CLINICS.length} clinics, ${online} agents online, ${seen} devices in the inventory.`,
        ...DEMO_CLINICS.map(
          (clinic) => `  • ${clinic.name} (${clinic.address.city}, ${clinic.county} County)`,
        ),
        '',
        `  API          ${cp.httpUrl}/api/v1   (OpenAPI: ${cp.httpUrl}/api/docs)`,
        `  API key      ${key}`,
        `  gRPC         ${cp.grpcAddress}     MQTT ${cp.mqttUrl}`,
        `  State        ${config.DATA_DIR} (reset on every demo run; agent logs in agents/)`,
        '',
        `  curl -H 'Authorization: Bearer ${key}' ${cp.httpUrl}/api/v1/devices?category=infusion_pump`,
        `  curl -H 'Authorization: Bearer ${key}' ${cp.httpUrl}/api/v1/agents`,
        '',
        smoke ? 'Smoke test passed.' : 'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    if (!smoke) {
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return 0;
  } catch (error) {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await shutdown();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fatal: ${String(error)}\n`);
    process.exit(1);
  },
);
