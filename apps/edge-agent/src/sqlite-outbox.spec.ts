import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentException } from './agent.exception.js';
import { simulatedInventory } from './inventory.js';
import type { OutboxMessage } from './outbox.js';
import { OUTBOX_FILE, ROW_OVERHEAD_BYTES, SqliteOutbox, sqliteOutbox } from './sqlite-outbox.js';
import { captureLogger, makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';
import { messageFactory } from './testing/messages.js';

const dirs: string[] = [];
const outboxes: SqliteOutbox[] = [];
afterEach(async () => {
  await Promise.all(outboxes.splice(0).map((outbox) => outbox.close()));
  await removeDirs(dirs);
});

const identity = makeIdentity();
const make = messageFactory(identity);

async function stateDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: { maxMessages?: number; maxBytes?: number; agentId?: string } = {}) {
  const { logger, lines } = captureLogger(identity.agentId);
  const outbox = SqliteOutbox.open({
    file: path.join(dir, OUTBOX_FILE),
    agentId: identity.agentId,
    logger,
    ...options,
  });
  outboxes.push(outbox);
  return { outbox, lines };
}

const seqsOf = (messages: readonly { seq: number }[]) => messages.map((message) => message.seq);
const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('SqliteOutbox', () => {
  it('keeps messages in seq order, byte for byte, until an ack covers them', async () => {
    const { outbox } = open(await stateDir());
    const messages = [
      make.inventory(1),
      make.health(2),
      make.health(3),
      make.gapReport(5, gap(4)),
      make.health(6),
    ];
    for (const message of messages)
      expect(await outbox.append(message)).toEqual({ evicted: [], superseded: [] });
    expect(outbox.seqs()).toEqual([1, 2, 3, 5, 6]);
    expect(outbox.pending()).toEqual(messages);
    expect(outbox.depth()).toBe(5);
    expect(outbox.bytes()).toBe(messages.reduce((sum, message) => sum + rowBytes(message), 0));
    expect(seqsOf(outbox.read(2, 2))).toEqual([3, 5]);
    expect(seqsOf(outbox.read(6, 10))).toEqual([]);
    expect(outbox.read(0, 0)).toEqual([]);
    expect(outbox.readStream('events')).toEqual([messages[3]]);
    await expect(outbox.append(make.health(6))).rejects.toThrow(RangeError);
    await expect(outbox.append(make.health(4))).rejects.toThrow(/seq must rise: 4 after 6/);

    expect(await outbox.ackUpTo(3)).toBe(3);
    expect(outbox.seqs()).toEqual([5, 6]);
    expect(await outbox.ackUpTo(3)).toBe(0);
    expect(await outbox.ackUpTo(99)).toBe(2);
    expect([outbox.depth(), outbox.bytes()]).toEqual([0, 0]);
  });

  it('survives a close and a reopen: the same messages, in order, with the counters rebuilt', async () => {
    const dir = await stateDir();
    const first = open(dir).outbox;
    const messages = [make.inventory(10), make.health(11), make.health(12)];
    for (const message of messages) await first.append(message);
    await first.ackUpTo(10);
    await first.close();

    const second = open(dir).outbox;
    expect(second.pending()).toEqual(messages.slice(1));
    expect(second.depth()).toBe(2);
    expect(second.bytes()).toBe(rowBytes(messages[1]) + rowBytes(messages[2]));
    await expect(second.append(make.health(12))).rejects.toThrow(RangeError);
    await second.append(make.health(13));
    expect(second.seqs()).toEqual([11, 12, 13]);
  });

  it('runs in WAL mode with synchronous=FULL, its files owner-only in the state directory', async () => {
    const dir = await stateDir();
    const previousUmask = process.umask(0o022);
    try {
      // The agent's default factory, as `medfleet-agent run` uses it.
      const outbox = (await sqliteOutbox()({
        stateDir: dir,
        agentId: identity.agentId,
        logger: captureLogger().logger,
      })) as SqliteOutbox;
      outboxes.push(outbox);
      expect(outbox.file).toBe(path.join(dir, OUTBOX_FILE));
      expect(outbox.settings()).toEqual({
        journalMode: 'wal',
        synchronous: 'FULL',
        autoVacuum: 'incremental',
      });
      await outbox.append(make.health(1));
      const files = fs.readdirSync(dir).sort();
      expect(files).toEqual([OUTBOX_FILE, `${OUTBOX_FILE}-shm`, `${OUTBOX_FILE}-wal`]);
      for (const file of files) expect(mode(path.join(dir, file)), file).toBe(0o600);
      // The append is in the WAL (fsync'd), not yet in the main file: that is what WAL mode means.
      expect(fs.statSync(path.join(dir, `${OUTBOX_FILE}-wal`)).size).toBeGreaterThan(0);
    } finally {
      process.umask(previousUmask);
    }
  });

  it('tightens the mode of an existing database file and its WAL files', async () => {
    const dir = await stateDir();
    const { outbox } = open(dir);
    await outbox.append(make.health(1));
    await outbox.close();
    fs.writeFileSync(path.join(dir, `${OUTBOX_FILE}-wal`), '');
    for (const suffix of ['', '-wal']) fs.chmodSync(path.join(dir, `${OUTBOX_FILE}${suffix}`), 0o644);
    const reopened = open(dir).outbox;
    expect(reopened.seqs()).toEqual([1]);
    for (const file of fs.readdirSync(dir)) expect(mode(path.join(dir, file)), file).toBe(0o600);
  });

  describe('when full, compacts', () => {
    it('keeps the newest complete inventory snapshot, thins health, never drops inventory changes or events', async () => {
      const { outbox } = open(await stateDir(), { maxMessages: 12 });
      // 1 snapshot, 2-5 health, 6 inventory change, 7 snapshot, 8 gap report, 9-11 health, 12 snapshot.
      const held = [
        make.inventory(1),
        ...[2, 3, 4, 5].map((seq) => make.health(seq)),
        make.inventory(6, false),
        make.inventory(7),
        make.gapReport(8, gap(0)),
        ...[9, 10, 11].map((seq) => make.health(seq)),
        make.inventory(12),
      ];
      for (const message of held) expect((await outbox.append(message)).evicted).toEqual([]);

      // Full: the snapshots older than 12 go (superseded); that is enough room.
      const first = await outbox.append(make.health(13));
      expect(first.evicted).toEqual([
        { seq: 1, stream: 'inventory' },
        { seq: 7, stream: 'inventory' },
      ]);
      expect(first.compaction).toEqual({ supersededSnapshots: 2, thinnedHealth: 0, overQuota: false });
      expect(outbox.seqs()).toEqual([2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]);

      // Full again, nothing superseded: every other health report goes, the newest (13) stays.
      await outbox.append(make.health(14));
      const second = await outbox.append(make.health(15));
      expect(seqsOf(second.evicted)).toEqual([3, 5, 10, 13]);
      expect(second.evicted.every((message) => message.stream === 'health')).toBe(true);
      expect(second.compaction).toEqual({ supersededSnapshots: 0, thinnedHealth: 4, overQuota: false });
      expect(outbox.seqs()).toEqual([2, 4, 6, 8, 9, 11, 12, 14, 15]);
      expect(outbox.depth()).toBeLessThanOrEqual(12);
      expect(outbox.bytes()).toBe(outbox.pending().reduce((sum, message) => sum + rowBytes(message), 0));
    });

    it('thins health again and again, down to the newest one, and then goes over quota rather than drop what must stay', async () => {
      const { outbox } = open(await stateDir(), { maxMessages: 8 });
      await outbox.append(make.inventory(1));
      await outbox.append(make.inventory(2, false));
      for (let seq = 3; seq <= 8; seq += 1) await outbox.append(make.health(seq));
      // A new inventory change needs room: of the health reports 3..7 every other one goes (8, the newest, stays).
      const change = await outbox.append(make.inventory(9, false));
      expect(seqsOf(change.evicted)).toEqual([4, 6]);
      expect(outbox.seqs()).toEqual([1, 2, 3, 5, 7, 8, 9]);
      // Fill up with changes (never dropped): health thins until only the newest is left.
      await outbox.append(make.inventory(10, false));
      const thinned = await outbox.append(make.inventory(11, false));
      expect(seqsOf(thinned.evicted)).toEqual([5]);
      const last = await outbox.append(make.inventory(12, false));
      expect(seqsOf(last.evicted)).toEqual([7]);
      const next = await outbox.append(make.inventory(13, false));
      expect(seqsOf(next.evicted)).toEqual([3]);
      expect(outbox.seqs()).toEqual([1, 2, 8, 9, 10, 11, 12, 13]);
      // Only the newest snapshot, changes and the newest health report are left: over quota, nothing dropped.
      const over = await outbox.append(make.gapReport(14, gap(3)));
      expect(over.evicted).toEqual([]);
      expect(over.compaction).toEqual({ supersededSnapshots: 0, thinnedHealth: 0, overQuota: true });
      expect(outbox.depth()).toBe(9);
      // A new health report may replace the last one.
      const health = await outbox.append(make.health(15));
      expect(seqsOf(health.evicted)).toEqual([8]);
      expect(health.compaction?.overQuota).toBe(true);
      expect(outbox.seqs()).toEqual([1, 2, 9, 10, 11, 12, 13, 14, 15]);
    });

    it('counts bytes as well as messages', async () => {
      const big = make.inventory(1, true, []);
      // Four held fit; a fifth (health) only once the superseded snapshot 1 is gone.
      const limit = rowBytes(big) * 2 + rowBytes(make.health(2)) * 3 - 1;
      const { outbox } = open(await stateDir(), { maxBytes: limit });
      await outbox.append(big);
      await outbox.append(make.health(2));
      await outbox.append(make.health(3));
      await outbox.append(make.inventory(4));
      const result = await outbox.append(make.health(5));
      expect(seqsOf(result.evicted)).toEqual([1]);
      expect(outbox.bytes()).toBeLessThanOrEqual(limit);
    });

    it('removes what a new message supersedes before checking the bounds, and returns it whole', async () => {
      const { outbox } = open(await stateDir(), { maxMessages: 3 });
      const report = make.gapReport(2, gap(1));
      await outbox.append(make.health(1));
      await outbox.append(report);
      await outbox.append(make.health(3));
      const result = await outbox.append(make.gapReport(4, gap(2)), { supersedes: [2, 99] });
      expect(result).toEqual({ evicted: [], superseded: [report] });
      expect(outbox.seqs()).toEqual([1, 3, 4]);
    });
  });

  describe('an unreadable database', () => {
    it('is moved aside and reported, and a fresh outbox starts', async () => {
      const dir = await stateDir();
      const file = path.join(dir, OUTBOX_FILE);
      fs.writeFileSync(
        file,
        'this is not a database, it is a shopping list: milk, eggs, bread. '.repeat(100),
      );
      fs.writeFileSync(`${file}-wal`, 'garbage wal');
      const { outbox, lines } = open(dir);
      expect(outbox.openReport.movedAside?.reason).toMatch(/SQLITE_NOTADB/);
      const aside = outbox.openReport.movedAside?.file as string;
      expect(path.basename(aside)).toMatch(/^outbox\.db\.corrupt-\d{4}-\d\d-\d\dT/);
      expect(fs.readFileSync(aside, 'utf8')).toContain('shopping list');
      expect(lines.find((line) => line.msg.startsWith('OUTBOX UNREADABLE'))).toMatchObject({
        level: 50,
        file,
        movedTo: aside,
      });
      await outbox.append(make.health(7));
      expect(outbox.seqs()).toEqual([7]);
    });

    it('is detected when truncated, or when it is some other SQLite database', async () => {
      const dir = await stateDir();
      const file = path.join(dir, OUTBOX_FILE);
      const first = open(dir).outbox;
      for (let seq = 1; seq <= 300; seq += 1) await first.append(make.inventory(seq, false, []));
      await first.close();
      const size = fs.statSync(file).size;
      fs.truncateSync(file, Math.floor(size / 2));
      const truncated = open(dir).outbox;
      expect(truncated.openReport.movedAside).toBeDefined();
      expect(truncated.depth()).toBe(0);
      await truncated.close();

      fs.rmSync(file);
      const foreign = new Database(file);
      foreign.exec('CREATE TABLE patients (name TEXT)');
      foreign.close();
      const replaced = open(dir).outbox;
      expect(replaced.openReport.movedAside?.reason).toMatch(/not an outbox/);
    });

    it('never piles up more than three copies aside', async () => {
      const dir = await stateDir();
      const file = path.join(dir, OUTBOX_FILE);
      for (let round = 0; round < 5; round += 1) {
        fs.writeFileSync(file, `garbage ${round}`.repeat(200));
        const { outbox } = open(dir);
        await outbox.close();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const aside = fs.readdirSync(dir).filter((name) => name.includes('.corrupt-'));
      expect(aside.filter((name) => !name.endsWith('-wal') && !name.endsWith('-shm'))).toHaveLength(3);
    });

    it('written by a newer agent is left alone, with a clear error', async () => {
      const dir = await stateDir();
      const { outbox } = open(dir);
      await outbox.close();
      const db = new Database(path.join(dir, OUTBOX_FILE));
      db.pragma('user_version = 99');
      db.close();
      let error: unknown;
      try {
        open(dir);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(AgentException);
      expect(error).toMatchObject({ code: 'OUTBOX_UNAVAILABLE', message: /newer agent \(outbox schema 99/ });
      expect(fs.readdirSync(dir).filter((name) => name.includes('.corrupt-'))).toEqual([]);
    });
  });

  it('drops the messages of an earlier enrollment (another agent id), and says so', async () => {
    const dir = await stateDir();
    const first = open(dir).outbox;
    await first.append(make.health(1));
    await first.append(make.health(2));
    await first.close();
    const agentId = randomUUID();
    const { outbox, lines } = open(dir, { agentId });
    expect(outbox.depth()).toBe(0);
    expect(outbox.openReport.discarded).toEqual({ agentId: identity.agentId, messages: 2 });
    expect(lines.map((line) => line.msg)).toContain(
      'outbox held messages of an earlier enrollment; they cannot be sent under this identity and were dropped',
    );
  });

  it('gives the space of a drained backlog back to the file system', async () => {
    const dir = await stateDir();
    const { outbox } = open(dir);
    const devices = await simulatedInventory({ seed: 'vacuum', deviceCount: 40 }).snapshot(new Date());
    for (let seq = 1; seq <= 1_000; seq += 1) await outbox.append(make.inventory(seq, false, devices));
    await outbox.close();
    const full = fs.statSync(path.join(dir, OUTBOX_FILE)).size;
    const reopened = open(dir).outbox;
    await reopened.ackUpTo(1_000);
    await reopened.close();
    const drained = fs.statSync(path.join(dir, OUTBOX_FILE)).size;
    expect(full).toBeGreaterThan(1_000_000);
    expect(drained).toBeLessThan(full / 4);
  });

  it('refuses nonsensical bounds', async () => {
    expect(() => open('/nonexistent', { maxMessages: 0 })).toThrow(RangeError);
  });
});

function gap(upTo: number) {
  return { reason: 'evicted' as const, ranges: [{ fromSeq: Math.max(1, upTo), toSeq: Math.max(1, upTo) }] };
}

function rowBytes(message: OutboxMessage | undefined): number {
  const held = message as OutboxMessage;
  return held.payload.length + Buffer.byteLength(held.topic) + ROW_OVERHEAD_BYTES;
}
