/**
 * A Mosquitto 2 of the test's own with the dynamic-security plugin: a child process on a free 127.0.0.1
 * port, no anonymous access, no persistence, its dynsec file initialised with an admin client in a temp
 * directory of its own. Never the machine's broker on 1883.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/infra/embedded-postgres.js';

export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface DynsecMosquitto {
  url: string;
  admin: { username: string; password: string };
  output(): string;
  stop(): Promise<void>;
}

export async function startDynsecMosquitto(): Promise<DynsecMosquitto> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-dynsec-'));
  const admin = { username: 'medfleet-admin', password: randomBytes(18).toString('base64url') };
  const dynsecFile = path.join(dir, 'dynamic-security.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', dynsecFile, admin.username, admin.password], {
    stdio: 'ignore',
  });
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    'persistence false',
    `plugin ${DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${dynsecFile}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
  ];
  // As root, Mosquitto would drop to the `mosquitto` user, which cannot write the dynsec file.
  if (os.userInfo().uid === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);

  let log = '';
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-200_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      resolve();
    }),
  );
  const cleanup = async () => {
    if (running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (!running || Date.now() > deadline) {
      const output = log;
      await cleanup();
      throw new Error(`mosquitto (dynsec) did not start on ${port}:\n${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `mqtt://127.0.0.1:${port}`, admin, output: () => log, stop: cleanup };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
