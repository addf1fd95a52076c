// A real `kill -9` of a real agent process, then a restart through the real command line, against the real
// broker (Mosquitto on 127.0.0.1:1883, or TEST_MQTT_URL). Runs the BUILT agent: `nx test` builds it first.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MESSAGE_TYPES, type SeqGapEnvelope } from '@medfleet/contracts';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { countSeqs, rangesOf, type SeqRange } from './seq-ranges.js';
import { saveIdentity, SEQ_FILE } from './state.js';
import { closeControlPlanes, controlPlane } from './testing/control-plane.js';
import { makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';

const DIST_MAIN = path.resolve(import.meta.dirname, '../dist/main.js');
const DIST_INDEX = path.resolve(import.meta.dirname, '../dist/index.js');

/**
 * The child that gets killed: the BUILT agent with its default (durable) outbox, publishing health reports
 * back to back. It prints "stored <seq>" once a report is in the outbox (fsync'd) and handed to MQTT; writes
 * to a pipe are synchronous on Linux, so a line the test read was printed before the kill.
 */
const BURST_AGENT = `
  const { Agent, createLogger, loadIdentity } = await import(${JSON.stringify(pathToFileURL(DIST_INDEX).href)});
  const stateDir = process.argv[1];
  const identity = await loadIdentity(stateDir);
  const agent = new Agent({
    identity,
    stateDir,
    logger: createLogger({ agentId: identity.agentId, level: 'error' }),
    simulate: { deviceCount: 5 },
    resendIntervalMs: 600000,
    mqtt: { sessionExpirySec: 60 },
  });
  await agent.start();
  process.stdout.write('started\\n');
  for (let count = 0; count < 100000; count += 1) {
    const seq = await agent.publishHealth();
    if (seq !== undefined) process.stdout.write('stored ' + seq + '\\n');
  }
  process.stdout.write('done\\n');
  setInterval(() => undefined, 60000);
`;

const dirs: string[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!fs.existsSync(DIST_MAIN)) {
    throw new Error(`${DIST_MAIN} is missing: build the agent first (npx nx build edge-agent)`);
  }
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await closeControlPlanes();
  await removeDirs(dirs);
});

const waitLong = { timeout: 20_000, interval: 25 };

/** Starts a child and collects its stdout lines. */
function start(args: string[]) {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MEDFLEET_LOG_LEVEL: 'info' },
  });
  children.push(child);
  const lines: string[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, exited, stderr: () => stderr };
}

function readSeqFile(dir: string): { lastSeq: number; lastAckedSeq: number } {
  return JSON.parse(fs.readFileSync(path.join(dir, SEQ_FILE), 'utf8')) as {
    lastSeq: number;
    lastAckedSeq: number;
  };
}

function highestContiguous(seqs: number[]): number {
  const seen = new Set(seqs);
  let seq = 0;
  while (seen.has(seq + 1)) seq += 1;
  return seq;
}

describe('durability across a real kill -9', () => {
  it('replays every message stored before the kill, in seq order, exactly the unacknowledged ones', async () => {
    const identity = makeIdentity({ config: { inventoryIntervalSec: 3600, healthIntervalSec: 3600 } });
    const dir = await makeTempDir();
    dirs.push(dir);
    await saveIdentity(dir, identity);
    const cp = await controlPlane(identity);

    // 1. An agent process publishing as fast as it can; the control plane acks part of it.
    const burst = start(['--input-type=module', '--eval', BURST_AGENT, dir]);
    const stored = () =>
      burst.lines.filter((line) => line.startsWith('stored ')).map((line) => Number(line.slice(7)));
    await vi.waitFor(() => expect(cp.received.length).toBeGreaterThanOrEqual(200), waitLong);
    const acked = highestContiguous(cp.seqs());
    await cp.ack(acked);
    await vi.waitFor(() => expect(readSeqFile(dir).lastAckedSeq).toBeGreaterThanOrEqual(acked), waitLong);
    await vi.waitFor(() => expect(stored().length).toBeGreaterThanOrEqual(acked + 300), waitLong);

    // 2. kill -9, mid-burst.
    burst.child.kill('SIGKILL');
    expect(await burst.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(burst.lines).not.toContain('done');
    const storedBeforeKill = stored();
    const { lastSeq, lastAckedSeq } = readSeqFile(dir);
    expect(lastAckedSeq).toBe(acked);
    // What the broker still had on its way to the control plane arrives; then the restart's traffic starts.
    let settled = -1;
    await vi.waitFor(
      () => {
        const count = cp.received.length;
        const quiet = count === settled;
        settled = count;
        expect(quiet).toBe(true);
      },
      { timeout: 10_000, interval: 300 },
    );
    const mark = cp.received.length;
    const before = new Map(cp.received.map((message) => [message.envelope.seq, message.payload]));

    // 3. The real command line on the same state directory.
    const cli = start([DIST_MAIN, 'run', '--state-dir', dir, '--devices', '5']);
    const after = () => cp.received.slice(mark);
    // The restart publishes an inventory snapshot and a health report of its own after the replay.
    await vi.waitFor(() => {
      const types = after()
        .filter((message) => message.envelope.seq > lastSeq)
        .map((message) => message.envelope.type);
      expect(types).toContain(MESSAGE_TYPES.health);
    }, waitLong);
    expect(cp.invalid).toEqual([]);

    const afterSeqs = after().map((message) => message.envelope.seq);
    // In seq order, each once: the replay, then (when a seq was reserved but never stored) its gap report,
    // then the new messages.
    expect(afterSeqs).toEqual([...afterSeqs].sort((a, b) => a - b));
    expect(new Set(afterSeqs).size).toBe(afterSeqs.length);
    const lostReports = after()
      .map((message) => message.envelope)
      .filter((envelope): envelope is SeqGapEnvelope => envelope.type === MESSAGE_TYPES.seqGap);
    const lost: SeqRange[] = lostReports.flatMap((report) => report.body.ranges);
    expect(lostReports.every((report) => report.body.reason === 'lost_on_restart')).toBe(true);
    // Emissions are serialized and the seq is written before the message is stored: at most the one seq
    // being written at the kill is missing, and it is none that the child reported stored.
    expect(countSeqs(lost)).toBeLessThanOrEqual(1);
    for (const range of lost) expect(range.fromSeq).toBeGreaterThan(Math.max(...storedBeforeKill));

    // Exactly the unacknowledged ones: every seq above the ack up to the last issued, minus the lost one.
    const lostSeqs = new Set(lost.flatMap((range) => [range.fromSeq, range.toSeq]));
    const expected = [];
    for (let seq = lastAckedSeq + 1; seq <= lastSeq; seq += 1) if (!lostSeqs.has(seq)) expected.push(seq);
    expect(rangesOf(afterSeqs.filter((seq) => seq <= lastSeq))).toEqual(rangesOf(expected));
    expect(afterSeqs.filter((seq) => seq <= lastSeq)).toEqual(expected);
    // Every message stored before the kill and not acknowledged is among them, byte for byte.
    for (const seq of storedBeforeKill) if (seq > lastAckedSeq) expect(afterSeqs).toContain(seq);
    let compared = 0;
    for (const message of after()) {
      const original = before.get(message.envelope.seq);
      if (!original) continue;
      expect(message.payload.equals(original), `seq ${message.envelope.seq}`).toBe(true);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(200);
    const replayedLog = cli.lines.find((line) => line.includes('will be replayed in order'));
    expect(JSON.parse(replayedLog ?? '{}')).toMatchObject({ fromSeq: lastAckedSeq + 1 });

    // 4. Once acknowledged, the outbox empties and the agent stops cleanly.
    await cp.ack(Math.max(...afterSeqs));
    cli.child.kill('SIGTERM');
    expect(await cli.exited, cli.stderr()).toEqual({ code: 0, signal: null });
    expect(cli.lines.some((line) => line.includes('"msg":"agent stopped"'))).toBe(true);
  });
});
