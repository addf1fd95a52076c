/** The delivery tests' agent process (support/agent-driver.mjs) and direct reads of the control plane's database. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { ROOT } from './processes.js';

export const AGENT_MODULE = path.join(ROOT, 'apps/edge-agent/dist/index.js');
const DRIVER = path.join(import.meta.dirname, 'agent-driver.mjs');

export interface DriverStatus {
  driver: string;
  lastSeq: number;
  lastAckedSeq: number;
  outboxDepth: number;
  connected: boolean;
  evicted: Record<string, number>;
  undeclaredGapSeqs: number;
}

export interface RunningDriver {
  child: ChildProcess;
  output(): string;
  /** The newest `progress` line, if any. */
  latest(): DriverStatus | undefined;
  /** Asks for reports until the agent's last issued seq reaches `untilSeq`; resolves when that is done. */
  produce(untilSeq: number, perSecond: number, timeoutMs: number): Promise<DriverStatus>;
  /** Sets the firmware of the simulated clinic's device number `index`; resolves with its MAC. */
  setFirmware(index: number, version: string): Promise<{ mac: string }>;
  /** Resolves with the first progress line that satisfies `check`. */
  until(check: (status: DriverStatus) => boolean, what: string, timeoutMs: number): Promise<DriverStatus>;
  /** SIGKILL: no shutdown code runs, exactly like `kill -9`. */
  kill(): Promise<void>;
  /** SIGTERM: the agent stops cleanly; resolves with its final status. */
  stop(): Promise<DriverStatus>;
}

export function startDriver(env: Record<string, string>): RunningDriver {
  const child = spawn(process.execPath, [DRIVER], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DRIVER_AGENT_MODULE: AGENT_MODULE, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let partial = '';
  let latest: DriverStatus | undefined;
  const records: DriverStatus[] = [];
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{"driver"')) continue;
      const record = JSON.parse(line) as DriverStatus;
      if (record.driver === 'progress') latest = record;
      else records.push(record);
    }
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;

  const wait = <T>(find: () => T | undefined, what: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const error = records.find((record) => record.driver === 'error');
        if (error) return finish(new Error(`agent driver failed: ${JSON.stringify(error)}`));
        const found = find();
        if (found !== undefined) return finish(undefined, found);
        if (!alive()) return finish(new Error(`agent driver exited while waiting for ${what}`));
      };
      const finish = (error?: Error, value?: T) => {
        listeners.delete(check);
        clearTimeout(timer);
        if (error)
          reject(
            new Error(`${error.message}; last status ${JSON.stringify(latest)}\n${output.slice(-3000)}`),
          );
        else resolve(value as T);
      };
      const timer = setTimeout(() => finish(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
      listeners.add(check);
      void exited.then(check);
      check();
    });

  return {
    child,
    output: () => output,
    latest: () => latest,
    produce(untilSeq, perSecond, timeoutMs) {
      const before = records.length;
      child.stdin?.write(`produce ${untilSeq} ${perSecond}\n`);
      return wait(
        () => records.slice(before).find((record) => record.driver === 'produced'),
        `production up to seq ${untilSeq}`,
        timeoutMs,
      );
    },
    async setFirmware(index, version) {
      const before = records.length;
      child.stdin?.write(`firmware ${index} ${version}\n`);
      const answer = await wait(
        () => records.slice(before).find((record) => record.driver === 'firmware'),
        `firmware ${version} on device ${index}`,
        30_000,
      );
      return { mac: (answer as unknown as { mac: string }).mac };
    },
    until: (check, what, timeoutMs) =>
      wait(() => (latest && check(latest) ? latest : undefined), what, timeoutMs),
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      const stopped = await wait(
        () => records.find((record) => record.driver === 'stopped'),
        'a clean stop',
        20_000,
      );
      await exited;
      return stopped;
    },
  };
}

/** One query on the control plane's database as its owner (RLS does not apply: the test checks everything). */
export async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export interface IngestedRow {
  seq: number;
  stream: string;
  outcome: 'applied' | 'dead_lettered' | 'skipped';
  /** When the control plane committed it (the transaction's start time). */
  receivedAt: Date;
}

/** Every ingested_messages row of one agent, in seq order. */
export async function ingestedMessages(url: string, agentId: string): Promise<IngestedRow[]> {
  const rows = await query<{
    seq: string;
    stream: string;
    outcome: IngestedRow['outcome'];
    received_at: Date;
  }>(
    url,
    'SELECT seq, stream, outcome, received_at FROM ingested_messages WHERE agent_id = $1 ORDER BY seq',
    [agentId],
  );
  return rows.map((row) => ({
    seq: Number(row.seq),
    stream: row.stream,
    outcome: row.outcome,
    receivedAt: row.received_at,
  }));
}

/** The seqs of the pino warnings in which an agent declared seqs lost at start (`lost_on_restart`). */
export function declaredLost(agentOutput: string): number[] {
  const seqs: number[] = [];
  for (const line of agentOutput.split('\n')) {
    if (!line.includes('declaring them lost')) continue;
    const { fromSeq, toSeq } = JSON.parse(line) as { fromSeq: number; toSeq: number };
    for (let seq = fromSeq; seq <= toSeq; seq += 1) seqs.push(seq);
  }
  return seqs;
}
