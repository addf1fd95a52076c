/**
 * `npm run bench:agent`: the edge agent's footprint and its durable outbox's rates, against the real local
 * Mosquitto (127.0.0.1:1883, or TEST_MQTT_URL; no other traffic).
 *
 *   (a) steady state: the built `medfleet-agent run` reporting 200 simulated devices (inventory + health)
 *       every 30 s, acked per message by a stand-in control plane; RSS sampled from /proc/<pid>/status each
 *       second and CPU from /proc/<pid>/stat (utime + stime) over the window, after a warm-up;
 *   (b) the outbox's durable write rate: appends (one fsync'd transaction each, synchronous=FULL) of health
 *       reports and of 200-device inventory snapshots, and of health with the seq file written first (what
 *       the agent does per message);
 *   (c) replay: a 100,000-message backlog (health, a 200-device snapshot every 1,000) left in a state
 *       directory; time from starting `medfleet-agent run` until the control plane has received every seq,
 *       the control plane acking as messages arrive (the agent's end-to-end window follows its acks).
 *
 * Progress goes to stdout; the LAST line is one JSON object with the figures.
 * Options: --window-sec <n> (120) --warmup-sec <n> (15) --interval-sec <n> (30) --backlog <n> (100000)
 *          --skip-steady
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import {
  agentTopicPrefix,
  downlinkTopic,
  encodeEnvelope,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  type DeviceReport,
} from '@medfleet/contracts';
import mqtt from 'mqtt';
import { simulatedInventory } from '../src/inventory.js';
import { OUTBOX_FILE, SqliteOutbox } from '../src/sqlite-outbox.js';
import { saveIdentity, SEQ_FILE, SeqStore } from '../src/state.js';
import { makeIdentity, TEST_MQTT_URL } from '../src/testing/fixtures.js';
import { messageFactory } from '../src/testing/messages.js';

const { values } = parseArgs({
  options: {
    'window-sec': { type: 'string', default: '120' },
    'warmup-sec': { type: 'string', default: '15' },
    'interval-sec': { type: 'string', default: '30' },
    backlog: { type: 'string', default: '100000' },
    'skip-steady': { type: 'boolean', default: false },
  },
});
const WINDOW_SEC = Number(values['window-sec']);
const WARMUP_SEC = Number(values['warmup-sec']);
const INTERVAL_SEC = Number(values['interval-sec']);
const BACKLOG = Number(values.backlog);
const DEVICES = 200;

const here = path.dirname(new URL(import.meta.url).pathname);
/**
 * The agent as shipped: the bundle the package installs (dist/medfleet-agent/dist/main.js, built by the
 * edge-agent `bundle` target), or BENCH_AGENT_CLI (e.g. the unbundled apps/edge-agent/dist/main.js).
 */
const CLI = process.env['BENCH_AGENT_CLI'] ?? findUp(here, 'dist/medfleet-agent/dist/main.js');
const CLOCK_TICKS = clockTicks();
/**
 * The agent runs as its `bin` would: with the node flags of dist/main.js's `#!/usr/bin/env -S node …` line
 * (BENCH_AGENT_NODE_FLAGS overrides them). The steady state is also measured with plain `node`, side by side.
 */
const SHIPPED_FLAGS =
  process.env['BENCH_AGENT_NODE_FLAGS']?.split(/\s+/).filter(Boolean) ?? shebangFlags(CLI);
const temps: string[] = [];
const children: ChildProcess[] = [];

function log(text: string): void {
  process.stdout.write(`[bench:agent] ${text}\n`);
}

async function main(): Promise<void> {
  const started = performance.now();
  log(`agent: ${CLI}; node ${process.version}; ${os.cpus().length} cores; clock ticks ${CLOCK_TICKS}/s`);
  const steady = values['skip-steady'] ? undefined : await steadyState();
  const writes = await writeRate();
  const replay = await replayBacklog();
  const figures = {
    node: process.version,
    agentNodeFlags: SHIPPED_FLAGS,
    steady,
    outboxWrite: writes,
    replay,
    goals: {
      rssAtMost60MB: steady ? steady.shipped.rssMaxMB <= 60 : null,
      cpuUnder1PercentOfACore: steady ? steady.shipped.cpuPercentOfOneCore < 1 : null,
      replay100kUnder60s: replay.complete && BACKLOG >= 100_000 ? replay.seconds < 60 : null,
    },
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/**
 * (a) The built agent at its real intervals, with 200 devices: as shipped (the shebang's node flags) and
 * under plain `node`, side by side over the same window (their load is too small to disturb each other).
 */
async function steadyState() {
  log(
    `(a) steady state: ${DEVICES} devices every ${INTERVAL_SEC} s; warm-up ${WARMUP_SEC} s, window ${WINDOW_SEC} s; ` +
      `as shipped (node ${SHIPPED_FLAGS.join(' ')}) and with plain node`,
  );
  const runs = await Promise.all(
    [SHIPPED_FLAGS, []].map(async (flags) => {
      const dir = tempDir();
      const identity = makeIdentity({
        config: { inventoryIntervalSec: INTERVAL_SEC, healthIntervalSec: INTERVAL_SEC },
      });
      await saveIdentity(dir, identity);
      const cp = await controlPlane(identity, { ackEach: true });
      return { flags, cp, agent: runAgent(dir, flags), rss: [] as number[], cpuBefore: 0, receivedBefore: 0 };
    }),
  );
  await sleep(WARMUP_SEC * 1000);
  for (const run of runs) {
    run.cpuBefore = cpuTicks(run.agent.pid as number);
    run.receivedBefore = run.cp.count;
  }
  const windowStart = performance.now();
  while (performance.now() - windowStart < WINDOW_SEC * 1000) {
    for (const run of runs) run.rss.push(rssKb(run.agent.pid as number));
    await sleep(1000);
  }
  const elapsedSec = (performance.now() - windowStart) / 1000;
  const [shipped, plain] = await Promise.all(
    runs.map(async (run) => {
      const pid = run.agent.pid as number;
      const cpuSec = (cpuTicks(pid) - run.cpuBefore) / CLOCK_TICKS;
      const memory = {
        peak: statusKb(pid, 'VmHWM'),
        anon: statusKb(pid, 'RssAnon'),
        file: statusKb(pid, 'RssFile'),
      };
      const received = run.cp.count - run.receivedBefore;
      await stopAgent(run.agent);
      await run.cp.close();
      return {
        nodeFlags: run.flags,
        devices: DEVICES,
        intervalSec: INTERVAL_SEC,
        windowSec: round(elapsedSec, 1),
        messagesInWindow: received,
        inventoryPayloadBytes: run.cp.inventoryBytes,
        rssMeanMB: round(mean(run.rss) / 1024, 1),
        rssMaxMB: round(Math.max(...run.rss) / 1024, 1),
        rssPeakSinceStartMB: round(memory.peak / 1024, 1),
        // Private memory vs the node binary's (shared, file-backed) pages, at the end of the window.
        rssAnonMB: round(memory.anon / 1024, 1),
        rssFileMB: round(memory.file / 1024, 1),
        cpuSeconds: round(cpuSec, 3),
        cpuPercentOfOneCore: round((cpuSec / elapsedSec) * 100, 3),
      };
    }),
  );
  log(`(a) as shipped: ${JSON.stringify(shipped)}`);
  log(`(a) plain node: ${JSON.stringify(plain)}`);
  return { shipped: shipped as NonNullable<typeof shipped>, plainNode: plain as NonNullable<typeof plain> };
}

/** (b) Durable appends, one transaction (and one fsync) each. */
async function writeRate() {
  const identity = makeIdentity();
  const make = messageFactory(identity);
  const devices = await clinic();
  const measure = async (
    count: number,
    build: (seq: number) => ReturnType<typeof make.health>,
    withSeqFile = false,
  ) => {
    const dir = tempDir();
    const outbox = SqliteOutbox.open({ file: path.join(dir, OUTBOX_FILE), agentId: identity.agentId });
    const seqStore = await SeqStore.open(dir, identity.agentId);
    const begin = performance.now();
    for (let index = 1; index <= count; index += 1) {
      const seq = withSeqFile ? await seqStore.next() : index;
      await outbox.append(build(seq));
    }
    const seconds = (performance.now() - begin) / 1000;
    const bytes = outbox.bytes();
    await outbox.close();
    return {
      messages: count,
      perSecond: Math.round(count / seconds),
      mbPerSecond: round(bytes / seconds / 1e6, 2),
    };
  };
  log('(b) outbox write rate (synchronous=FULL, one fsync per message)');
  const figures = {
    health: await measure(3_000, make.health),
    inventory200Devices: await measure(300, (seq) => make.inventory(seq, true, devices)),
    healthWithSeqFile: await measure(1_000, make.health, true),
  };
  log(`(b) ${JSON.stringify(figures)}`);
  return figures;
}

/** (c) A backlog left by days offline, replayed by the built agent to the broker. */
async function replayBacklog() {
  const dir = tempDir();
  const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 3600 } });
  await saveIdentity(dir, identity);
  const make = messageFactory(identity);
  const devices = await clinic();
  log(`(c) filling a backlog of ${BACKLOG} messages`);
  const fillStart = performance.now();
  // NORMAL (fsync at checkpoints) only to fill it quickly; the agent opens it with FULL.
  const outbox = SqliteOutbox.open({
    file: path.join(dir, OUTBOX_FILE),
    agentId: identity.agentId,
    synchronous: 'NORMAL',
  });
  for (let seq = 1; seq <= BACKLOG; seq += 1) {
    await outbox.append(seq % 1000 === 1 ? make.inventory(seq, true, devices) : make.health(seq));
  }
  const backlogBytes = outbox.bytes();
  await outbox.close();
  fs.writeFileSync(
    path.join(dir, SEQ_FILE),
    JSON.stringify({ agentId: identity.agentId, lastSeq: BACKLOG, lastAckedSeq: 0 }),
    { mode: 0o600 },
  );
  const fileMB = fs.statSync(path.join(dir, OUTBOX_FILE)).size / 1e6;
  log(`(c) filled in ${round((performance.now() - fillStart) / 1000, 1)} s: ${round(fileMB, 1)} MB on disk`);

  // Acks as messages arrive, one ack in flight at a time, as the real control plane does after each commit.
  const cp = await controlPlane(identity, { backlog: BACKLOG, ackEach: true });
  const begin = performance.now();
  const acker = setInterval(() => void cp.ackContiguous(), 250);
  const agent = runAgent(dir);
  const pid = agent.pid as number;
  const rss: number[] = [];
  const deadline = begin + 120_000;
  while (cp.backlogDoneAt === 0 && performance.now() < deadline) {
    rss.push(rssKb(pid));
    await sleep(250);
  }
  clearInterval(acker);
  const seconds = ((cp.backlogDoneAt || performance.now()) - begin) / 1000;
  const peakKb = statusKb(pid, 'VmHWM');
  const cpuSec = cpuTicks(pid) / CLOCK_TICKS;
  await cp.ackContiguous();
  await stopAgent(agent);
  await cp.close();
  const received = cp.backlogReceived;
  const figures = {
    messages: BACKLOG,
    received,
    complete: received === BACKLOG,
    backlogMB: round(backlogBytes / 1e6, 1),
    outboxFileMB: round(fileMB, 1),
    seconds: round(seconds, 2),
    firstMessageAfterSeconds: round(((cp.firstAt || performance.now()) - begin) / 1000, 2),
    perSecond: Math.round(received / seconds),
    agentRssMaxMB: round(Math.max(...rss, 0) / 1024, 1),
    agentRssPeakMB: round(peakKb / 1024, 1),
    agentCpuSeconds: round(cpuSec, 2),
  };
  log(`(c) ${JSON.stringify(figures)}`);
  return figures;
}

/**
 * A lean stand-in for the control plane (the real one's validation would compete with the agent for the
 * two cores): counts the seqs it receives and acks the highest contiguous one, as the real one does.
 */
async function controlPlane(
  identity: ReturnType<typeof makeIdentity>,
  options: { ackEach?: boolean; backlog?: number },
) {
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    protocolVersion: 5,
    clientId: `bench-cp-${randomUUID()}`,
    clean: true,
    reconnectPeriod: 0,
  });
  const seen = new Set<number>();
  const backlog = options.backlog ?? 0;
  let acked = 0;
  let ackSeq = 0;
  let acking = false;
  const state = {
    /** Messages received, duplicates included. */
    count: 0,
    /** Distinct seqs of the backlog received. */
    backlogReceived: 0,
    firstAt: 0,
    backlogDoneAt: 0,
    inventoryBytes: null as number | null,
    async ackContiguous(): Promise<void> {
      if (acking) return;
      let seq = acked;
      while (seen.has(seq + 1)) seq += 1;
      if (seq === acked) return;
      acking = true;
      acked = seq;
      try {
        await client.publishAsync(
          downlinkTopic(identity, 'ack'),
          encodeEnvelope({
            v: PROTOCOL_VERSION,
            agentId: identity.agentId,
            seq: (ackSeq += 1),
            sentAt: new Date().toISOString(),
            type: MESSAGE_TYPES.ack,
            body: { ackedSeq: seq },
          }),
          { qos: 1 },
        );
      } catch {
        acked = 0;
      } finally {
        acking = false;
      }
    },
    close: () => client.endAsync(true),
  };
  client.on('message', (topic, payload) => {
    // Only the seq is needed: a regex on the envelope's text instead of a full parse.
    const seq = Number(/"seq":(\d+)/.exec(payload.toString('latin1'))?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(seq)) return;
    if (state.count === 0) state.firstAt = performance.now();
    state.count += 1;
    if (topic.endsWith('/inventory')) state.inventoryBytes ??= payload.length;
    if (!seen.has(seq)) {
      seen.add(seq);
      if (seq <= backlog) {
        state.backlogReceived += 1;
        if (state.backlogReceived === backlog) state.backlogDoneAt = performance.now();
      }
    }
    if (options.ackEach) void state.ackContiguous();
  });
  await client.subscribeAsync(`${agentTopicPrefix(identity)}/#`, { qos: 1 });
  return state;
}

function runAgent(stateDir: string, flags: string[] = SHIPPED_FLAGS): ChildProcess {
  const child = spawn(
    process.execPath,
    [...flags, CLI, 'run', '--state-dir', stateDir, '--devices', String(DEVICES)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, MEDFLEET_LOG_LEVEL: 'warn' },
    },
  );
  children.push(child);
  return child;
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function clinic(): Promise<DeviceReport[]> {
  return simulatedInventory({ seed: 'bench-clinic', deviceCount: DEVICES }).snapshot(new Date());
}

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), utime and stime; `fields` starts at field 3.
  return Number(fields[11]) + Number(fields[12]);
}

function statusKb(pid: number, key: string): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${key}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

function rssKb(pid: number): number {
  return statusKb(pid, 'VmRSS');
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

function shebangFlags(file: string): string[] {
  const first = fs.readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\S*env -S node(.*)$/.exec(first);
  return match ? (match[1] ?? '').split(/\s+/).filter(Boolean) : [];
}

function findUp(from: string, relative: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (fs.existsSync(candidate) && !candidate.includes(`${path.sep}bench${path.sep}dist${path.sep}`)) {
      return candidate;
    }
    if (path.dirname(dir) === dir)
      throw new Error(`${relative} not found above ${from}: build the agent first`);
  }
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medfleet-bench-'));
  temps.push(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mean = (numbers: number[]) =>
  numbers.reduce((sum, value) => sum + value, 0) / Math.max(1, numbers.length);
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function cleanUp(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
}

try {
  await main();
} finally {
  cleanUp();
}
