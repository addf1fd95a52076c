/**
 * The real edge agent as a process: the built `medfleet-agent` CLI (apps/edge-agent/dist) enrolled with
 * a token over gRPC, then `run` against the control plane's broker, its JSON log lines kept for the test.
 * Run by path, so the control plane's tests do not import another app's code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
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

/** Enrolls a new agent with `token` through the CLI; `start()` runs it. */
export async function enrollAgentProcess(grpcAddress: string, token: string): Promise<AgentProcess> {
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
      const running = spawn(process.execPath, [AGENT_CLI, 'run', '--state-dir', stateDir, '--devices', '3'], {
        env,
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
