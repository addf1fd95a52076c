/**
 * The real edge agent as a process: the built `medfleet-agent` CLI (apps/edge-agent/dist) enrolled with
 * a token over gRPC, then `run` against the control plane's broker, its JSON log lines kept for the test.
 * Run by path, so the control plane's tests do not import another app's code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..', '..');
export const AGENT_CLI = path.join(ROOT, 'apps/edge-agent/dist/main.js');

export interface AgentProcess {
  agentId: string;
  stateDir: string;
  /** Every log line since the first start, parsed. */
  lines: { msg?: string; [field: string]: unknown }[];
  start(): Promise<void>;
  /** SIGTERM and wait: a clean stop. */
  stop(): Promise<void>;
  /** SIGKILL: the agent just goes silent. */
  kill(): Promise<void>;
  waitForLog(msg: string, timeoutMs?: number): Promise<void>;
  remove(): Promise<void>;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export interface AgentRunOptions {
  /** Simulated devices (3 by default). */
  devices?: number;
  /** Seed of the simulated clinic (the agent id by default). */
  seed?: string;
  /** A simulation control file (`--simulate-control`): devices in clinical use, forced faults. */
  controlFile?: string;
  /**
   * A file holding the agent's clock offset from real time in seconds (`+3600`), read on every clock call
   * through libfaketime: the agent process lives at the test's controllable time, as a device whose clock
   * says that time would. See `fakeClock`.
   */
  clockFile?: string;
}

/** Where Debian's libfaketime puts its preload library (the package `faketime`), whatever the architecture. */
export function libfaketimePath(): string {
  const base = '/usr/lib';
  const candidates = [
    path.join(base, 'faketime', 'libfaketime.so.1'),
    ...(existsSync(base)
      ? readdirSync(base).map((dir) => path.join(base, dir, 'faketime', 'libfaketime.so.1'))
      : []),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('libfaketime is not installed: `apt-get install faketime` (CI installs it)');
  return found;
}

/** The environment that runs a process on the clock of `clockFile` (monotonic time stays real, so timers work). */
export function fakeClockEnv(clockFile: string): Record<string, string> {
  return {
    LD_PRELOAD: libfaketimePath(),
    FAKETIME_TIMESTAMP_FILE: clockFile,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

/** Enrolls a new agent with `token` through the CLI; `start()` runs it. */
export async function enrollAgentProcess(
  grpcAddress: string,
  token: string,
  options: AgentRunOptions = {},
): Promise<AgentProcess> {
  if (!existsSync(AGENT_CLI)) {
    throw new Error(`the edge agent is not built (${AGENT_CLI}): run \`npx nx run edge-agent:build\` first`);
  }
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'medfleet-agent-it-'));
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], MEDFLEET_LOG_LEVEL: 'debug' };
  const enroll = spawn(
    process.execPath,
    [AGENT_CLI, 'enroll', '--server', grpcAddress, '--token', token, '--state-dir', stateDir, '--insecure'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let enrollOutput = '';
  enroll.stdout?.on('data', (chunk: Buffer) => (enrollOutput += chunk.toString()));
  enroll.stderr?.on('data', (chunk: Buffer) => (enrollOutput += chunk.toString()));
  const code = await exited(enroll);
  if (code !== 0) throw new Error(`agent enrollment failed (${code}): ${enrollOutput}`);
  const identity = JSON.parse(await fs.readFile(path.join(stateDir, 'identity.json'), 'utf8')) as {
    agentId: string;
  };
  const lines: AgentProcess['lines'] = [];
  let child: ChildProcess | null = null;
  const listeners = new Set<() => void>();
  const agentProcess: AgentProcess = {
    agentId: identity.agentId,
    stateDir,
    lines,
    async start() {
      const args = [AGENT_CLI, 'run', '--state-dir', stateDir, '--devices', String(options.devices ?? 3)];
      if (options.seed) args.push('--simulate-seed', options.seed);
      if (options.controlFile) args.push('--simulate-control', options.controlFile);
      const running = spawn(process.execPath, args, {
        env: { ...env, ...(options.clockFile ? fakeClockEnv(options.clockFile) : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = running;
      let partial = '';
      const take = (chunk: Buffer) => {
        partial += chunk.toString('utf8');
        const complete = partial.split('\n');
        partial = complete.pop() ?? '';
        for (const line of complete) {
          try {
            lines.push(JSON.parse(line) as AgentProcess['lines'][number]);
          } catch {
            lines.push({ msg: line });
          }
        }
        for (const listener of listeners) listener();
      };
      running.stdout?.on('data', take);
      running.stderr?.on('data', take);
      await agentProcess.waitForLog('agent started');
    },
    async stop() {
      if (!child) return;
      child.kill('SIGTERM');
      await exited(child);
      child = null;
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
      child = null;
    },
    waitForLog(msg, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (lines.some((line) => line.msg === msg)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          const tail = lines.slice(-20).map((line) => JSON.stringify(line));
          reject(
            new Error(`agent log "${msg}" not seen in ${timeoutMs} ms; last lines:\n${tail.join('\n')}`),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async remove() {
      await agentProcess.kill();
      await fs.rm(stateDir, { recursive: true, force: true });
    },
  };
  return agentProcess;
}
