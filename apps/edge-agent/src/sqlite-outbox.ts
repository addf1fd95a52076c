/**
 * The durable outbox: SQLite (better-sqlite3) in WAL mode in the agent's state directory, `outbox.db`.
 *
 * Durability: `synchronous=FULL`, so each append is one transaction whose WAL frames are fsync'd before the
 * call returns, and the delivery layer publishes only after that: a message on the wire is on disk, and a
 * `kill -9` or a power cut loses nothing that was published. (NORMAL would fsync only at checkpoints: still
 * never corrupt, but the last appends before a power cut could vanish after being published; the option
 * exists for bulk loads and benchmarks.) A message leaves only when a `cmd/ack` covers its seq.
 *
 * Quota: rows and bytes (payload + topic + a fixed per-row overhead, close to what the file grows by). When an
 * append would exceed either, the outbox COMPACTS inside the same transaction:
 *   1. complete inventory snapshots older than the newest complete one are dropped (it supersedes them);
 *   2. health reports are thinned: every other held one goes, the newest is always kept, repeated until the
 *      new message fits (so an old backlog decays to every 2nd, 4th, 8th… report);
 *   3. inventory changes (snapshots with `complete: false`), events (gap reports, security events) and the
 *      newest complete snapshot are never dropped: if they alone exceed the quota, the outbox goes over it
 *      and says so (`CompactionSummary.overQuota`).
 * Every dropped seq is returned in `evicted`, and the delivery layer declares them in an `evicted` gap report,
 * so the control plane's contiguous ack moves on.
 *
 * An unreadable database (garbage, truncated, not ours) is moved aside as `outbox.db.corrupt-<time>` and a
 * fresh one started: the agent then declares the seqs it held as `lost_on_restart`, instead of refusing to
 * start at every restart. The database and its -wal/-shm files are created 0600 (SQLite gives the WAL files
 * the database file's mode).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MESSAGE_TYPES, type UplinkStream } from '@medfleet/contracts';
import Database from 'better-sqlite3';
import { AgentException } from './agent.exception.js';
import type { Logger } from './logger.js';
import {
  DEFAULT_DURABLE_OUTBOX_MAX_BYTES,
  DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES,
  type AppendOptions,
  type AppendResult,
  type CompactionSummary,
  type EvictedMessage,
  type Outbox,
  type OutboxFactory,
  type OutboxMessage,
} from './outbox.js';

export const OUTBOX_FILE = 'outbox.db';
export { DEFAULT_DURABLE_OUTBOX_MAX_BYTES, DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES };
/** Counted per row on top of payload and topic: SQLite's record header, index entry and page slack. */
export const ROW_OVERHEAD_BYTES = 64;
/** `PRAGMA application_id` of an outbox database ("MFOB"), so a foreign SQLite file is never taken for one. */
const APPLICATION_ID = 0x4d464f42;
const SCHEMA_VERSION = 1;
/** Unreadable databases kept aside for inspection; older ones are deleted so a loop cannot fill the disk. */
const CORRUPT_COPIES_KEPT = 3;
/** After the outbox empties, free pages beyond this many are given back to the file system. */
const VACUUM_FREE_PAGES = 1024;

/** How compaction treats a message (stored per row). */
const Retention = {
  /** Inventory changes, events (gap reports, security events): never dropped. */
  Keep: 0,
  /** A complete inventory snapshot: superseded by a newer complete one. */
  Snapshot: 1,
  /** A health report: thinned. */
  Health: 2,
} as const;
type Retention = (typeof Retention)[keyof typeof Retention];

export interface SqliteOutboxOptions {
  /** The database file, normally `<state dir>/outbox.db`. */
  file: string;
  /** Messages stored under another agent id (an earlier enrollment) are dropped at open. */
  agentId: string;
  /** Quota in bytes (see `ROW_OVERHEAD_BYTES`). */
  maxBytes?: number;
  /** Quota in messages. */
  maxMessages?: number;
  /** FULL (default) fsyncs every append; NORMAL only at checkpoints (bulk loads, benchmarks). */
  synchronous?: 'FULL' | 'NORMAL';
  logger?: Logger;
}

export interface SqliteOutboxOpenReport {
  /** An unreadable database was moved here; what it held is gone. */
  movedAside?: { file: string; reason: string };
  /** Messages of another agent id, dropped at open. */
  discarded?: { agentId: string; messages: number };
}

interface Row {
  seq: number;
  stream: UplinkStream;
  topic: string;
  payload: Buffer;
}

/** Raised for a file that cannot be an outbox we can read: it is moved aside. */
class UnreadableOutbox extends Error {}

export class SqliteOutbox implements Outbox {
  readonly durable = true;
  readonly maxBytes: number;
  readonly maxMessages: number;
  private count = 0;
  private total = 0;
  private readonly statements;
  private readonly appendTransaction;
  private readonly ackTransaction;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    readonly openReport: SqliteOutboxOpenReport,
    options: SqliteOutboxOptions,
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_DURABLE_OUTBOX_MAX_BYTES;
    this.maxMessages = options.maxMessages ?? DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES;
    const columns = 'seq, stream, topic, payload';
    this.statements = {
      insert: db.prepare(
        'INSERT INTO messages (seq, stream, retention, topic, payload, bytes) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare<[number], Row & { bytes: number }>(
        `SELECT ${columns}, bytes FROM messages WHERE seq = ?`,
      ),
      remove: db.prepare<[number], { bytes: number }>('DELETE FROM messages WHERE seq = ? RETURNING bytes'),
      read: db.prepare<[number, number], Row>(
        `SELECT ${columns} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`,
      ),
      readStream: db.prepare<[string], Row>(`SELECT ${columns} FROM messages WHERE stream = ? ORDER BY seq`),
      seqs: db.prepare<[], number>('SELECT seq FROM messages ORDER BY seq').pluck(),
      lastSeq: db.prepare<[], number | null>('SELECT max(seq) FROM messages').pluck(),
      retained: db
        .prepare<[number], number>('SELECT seq FROM messages WHERE retention = ? ORDER BY seq')
        .pluck(),
      upTo: db.prepare<[number], { n: number; b: number }>(
        'SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM messages WHERE seq <= ?',
      ),
      deleteUpTo: db.prepare<[number]>('DELETE FROM messages WHERE seq <= ?'),
      totals: db.prepare<[], { n: number; b: number }>(
        'SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM messages',
      ),
    };
    this.appendTransaction = db.transaction((message: OutboxMessage, supersedes: readonly number[]) =>
      this.appendRows(message, supersedes),
    );
    this.ackTransaction = db.transaction((ackedSeq: number) => {
      const { n, b } = this.statements.upTo.get(ackedSeq) as { n: number; b: number };
      if (n > 0) this.statements.deleteUpTo.run(ackedSeq);
      return { n, b };
    });
    this.refreshTotals();
  }

  /**
   * Opens (or creates) the outbox. An unreadable file is moved aside and replaced (see `openReport`); a file
   * that cannot be opened at all (permissions, a newer agent's schema, the native module missing) throws an
   * `AgentException` with the reason.
   */
  static open(options: SqliteOutboxOptions): SqliteOutbox {
    const { file, logger } = options;
    if (!((options.maxMessages ?? 1) >= 1) || !((options.maxBytes ?? 1) >= 1)) {
      throw new RangeError('outbox bounds must be at least 1');
    }
    const synchronous = options.synchronous ?? 'FULL';
    const report: SqliteOutboxOpenReport = {};
    let db: Database.Database;
    try {
      db = openDatabase(file, synchronous);
    } catch (error) {
      const reason = unreadableReason(error);
      if (reason === undefined) throw openFailure(file, error);
      const aside = moveAside(file);
      report.movedAside = { file: aside, reason };
      logger?.error(
        { file, movedTo: aside, reason },
        'OUTBOX UNREADABLE: moved aside and started afresh; the messages it held will be declared lost',
      );
      try {
        db = openDatabase(file, synchronous);
      } catch (retryError) {
        throw openFailure(file, retryError);
      }
    }
    try {
      const storedAgentId = db.prepare("SELECT value FROM meta WHERE key = 'agent_id'").pluck().get() as
        string | undefined;
      if (storedAgentId !== options.agentId) {
        const messages = db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
        db.transaction(() => {
          db.prepare('DELETE FROM messages').run();
          db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('agent_id', ?)").run(options.agentId);
        })();
        if (storedAgentId !== undefined && messages > 0) {
          report.discarded = { agentId: storedAgentId, messages };
          logger?.warn(
            { previousAgentId: storedAgentId, discarded: messages },
            'outbox held messages of an earlier enrollment; they cannot be sent under this identity and were dropped',
          );
        }
      }
      return new SqliteOutbox(db, file, report, options);
    } catch (error) {
      db.close();
      throw openFailure(file, error);
    }
  }

  async append(message: OutboxMessage, options: AppendOptions = {}): Promise<AppendResult> {
    try {
      return this.appendTransaction.immediate(message, options.supersedes ?? []);
    } catch (error) {
      // Rolled back: the counters follow the database, not what the transaction had got to.
      this.refreshTotals();
      throw error;
    }
  }

  async ackUpTo(ackedSeq: number): Promise<number> {
    const { n, b } = this.ackTransaction.immediate(ackedSeq);
    this.count -= n;
    this.total -= b;
    if (n > 0 && this.count === 0) this.giveBackFreePages();
    return n;
  }

  read(afterSeq: number, limit: number): OutboxMessage[] {
    if (limit <= 0) return [];
    return this.statements.read.all(afterSeq, Math.floor(limit)).map(toMessage);
  }

  readStream(stream: UplinkStream): OutboxMessage[] {
    return this.statements.readStream.all(stream).map(toMessage);
  }

  seqs(): number[] {
    return this.statements.seqs.all();
  }

  countUpTo(seq: number): number {
    return (this.statements.upTo.get(seq) as { n: number }).n;
  }

  pending(): readonly OutboxMessage[] {
    return this.read(0, Number.MAX_SAFE_INTEGER);
  }

  depth(): number {
    return this.count;
  }

  bytes(): number {
    return this.total;
  }

  /** The SQLite settings in force on this connection (diagnostics and tests). */
  settings(): { journalMode: string; synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'; autoVacuum: string } {
    const synchronous = this.db.pragma('synchronous', { simple: true }) as number;
    const autoVacuum = this.db.pragma('auto_vacuum', { simple: true }) as number;
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[synchronous] ?? 'OFF',
      autoVacuum: ['none', 'full', 'incremental'][autoVacuum] ?? String(autoVacuum),
    };
  }

  async close(): Promise<void> {
    // Closing the last connection checkpoints the WAL into the database and removes the -wal/-shm files.
    if (this.db.open) this.db.close();
  }

  private appendRows(message: OutboxMessage, supersedes: readonly number[]): AppendResult {
    const last = this.statements.lastSeq.get();
    if (last !== null && last !== undefined && message.seq <= last) {
      throw new RangeError(`outbox seq must rise: ${message.seq} after ${last}`);
    }
    const superseded: OutboxMessage[] = [];
    for (const seq of new Set(supersedes)) {
      const row = this.statements.get.get(seq);
      if (!row) continue;
      this.removeRow(seq);
      superseded.push(toMessage(row));
    }
    const size = rowBytes(message);
    const retention = retentionOf(message);
    const evicted: EvictedMessage[] = [];
    let compaction: CompactionSummary | undefined;
    if (!this.fits(size)) compaction = this.compact(message.seq, retention, size, evicted);
    this.statements.insert.run(message.seq, message.stream, retention, message.topic, message.payload, size);
    this.count += 1;
    this.total += size;
    return compaction ? { evicted, superseded, compaction } : { evicted, superseded };
  }

  private compact(
    seq: number,
    retention: Retention,
    size: number,
    evicted: EvictedMessage[],
  ): CompactionSummary {
    const summary: CompactionSummary = { supersededSnapshots: 0, thinnedHealth: 0, overQuota: false };
    // 1. Complete snapshots older than the newest complete one (the new message, if it is one).
    const snapshots = this.statements.retained.all(Retention.Snapshot);
    const newestSnapshot = retention === Retention.Snapshot ? seq : snapshots.at(-1);
    for (const held of snapshots) {
      if (newestSnapshot === undefined || held >= newestSnapshot) break;
      this.removeRow(held);
      evicted.push({ seq: held, stream: 'inventory' });
      summary.supersededSnapshots += 1;
    }
    // 2. Health: every other one, the newest always kept, until the new message fits.
    while (!this.fits(size)) {
      const health = this.statements.retained.all(Retention.Health);
      // A new health report is the newest: then every held one may go.
      const candidates = retention === Retention.Health ? health : health.slice(0, -1);
      if (candidates.length === 0) break;
      const victims = candidates.length === 1 ? candidates : candidates.filter((_, index) => index % 2 === 1);
      for (const victim of victims) {
        this.removeRow(victim);
        evicted.push({ seq: victim, stream: 'health' });
      }
      summary.thinnedHealth += victims.length;
    }
    // 3. What is left is never dropped.
    summary.overQuota = !this.fits(size);
    return summary;
  }

  private fits(size: number): boolean {
    return this.count + 1 <= this.maxMessages && this.total + size <= this.maxBytes;
  }

  private removeRow(seq: number): void {
    const removed = this.statements.remove.get(seq);
    if (!removed) return;
    this.count -= 1;
    this.total -= removed.bytes;
  }

  private refreshTotals(): void {
    const { n, b } = this.statements.totals.get() as { n: number; b: number };
    this.count = n;
    this.total = b;
  }

  /** After a long backlog drained, hands the space back instead of keeping the file at its high-water mark. */
  private giveBackFreePages(): void {
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    if (free > VACUUM_FREE_PAGES) this.db.pragma('incremental_vacuum');
  }
}

/** The agent's default: the durable outbox in its state directory. */
export function sqliteOutbox(
  options: Omit<SqliteOutboxOptions, 'file' | 'agentId' | 'logger'> = {},
): OutboxFactory {
  return ({ stateDir, agentId, logger }) =>
    SqliteOutbox.open({ ...options, file: path.join(stateDir, OUTBOX_FILE), agentId, logger });
}

function toMessage(row: Row): OutboxMessage {
  return { seq: row.seq, stream: row.stream, topic: row.topic, payload: row.payload };
}

function rowBytes(message: OutboxMessage): number {
  return message.payload.length + Buffer.byteLength(message.topic) + ROW_OVERHEAD_BYTES;
}

/** Reads the envelope only for inventory: whether it is a complete snapshot (the rest is never dropped). */
function retentionOf(message: OutboxMessage): Retention {
  if (message.stream === 'health') return Retention.Health;
  if (message.stream !== 'inventory') return Retention.Keep;
  try {
    const envelope = JSON.parse(message.payload.toString('utf8')) as {
      type?: unknown;
      body?: { complete?: unknown };
    };
    return envelope.type === MESSAGE_TYPES.inventory && envelope.body?.complete === true
      ? Retention.Snapshot
      : Retention.Keep;
  } catch {
    return Retention.Keep;
  }
}

function openDatabase(file: string, synchronous: 'FULL' | 'NORMAL'): Database.Database {
  prepareFiles(file);
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (error) {
    if (/bindings|NODE_MODULE_VERSION|invalid ELF|cannot open shared object/i.test(String(error))) {
      throw new AgentException(
        'OUTBOX_UNAVAILABLE',
        `the durable outbox needs better-sqlite3's native module, which is not built or does not match ` +
          `this Node.js (${process.version}): run "npm rebuild better-sqlite3" (${(error as Error).message})`,
      );
    }
    throw error;
  }
  try {
    db.pragma('busy_timeout = 5000');
    // Takes effect only on a database without pages yet (before WAL mode writes the header), so first; lets
    // an emptied outbox give its pages back. A no-op on an existing one.
    db.pragma('auto_vacuum = INCREMENTAL');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`could not switch ${file} to WAL (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${synchronous}`);
    // Keeps the WAL file from staying at its largest size after a checkpoint.
    db.pragma('journal_size_limit = 8388608');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new UnreadableOutbox(`integrity check failed: ${String(check)}`);
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (applicationId === 0 && version === 0) {
      const tables = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
      if (tables > 0) throw new UnreadableOutbox('a SQLite database, but not an outbox');
      createSchema(db);
    } else if (applicationId !== APPLICATION_ID) {
      throw new UnreadableOutbox(`a SQLite database, but not an outbox (application_id ${applicationId})`);
    } else if (version > SCHEMA_VERSION) {
      throw new AgentException(
        'OUTBOX_UNAVAILABLE',
        `${file} was written by a newer agent (outbox schema ${version}, this agent knows ${SCHEMA_VERSION}); ` +
          'upgrade the agent, or move the file away to start with an empty outbox',
      );
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function createSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        retention INTEGER NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        bytes INTEGER NOT NULL
      );
      CREATE INDEX messages_by_retention ON messages (retention, seq);
      CREATE INDEX messages_by_stream ON messages (stream, seq);
    `);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Creates the database file owner-only; SQLite then creates -wal and -shm with the same mode. */
function prepareFiles(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      fs.chmodSync(`${file}${suffix}`, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Why opening failed if the file itself is unreadable (so moving it aside helps); undefined otherwise. */
function unreadableReason(error: unknown): string | undefined {
  if (error instanceof UnreadableOutbox) return error.message;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return `${code}: ${(error as Error).message}`;
  }
  return undefined;
}

function openFailure(file: string, error: unknown): AgentException {
  if (error instanceof AgentException) return error;
  return new AgentException(
    'OUTBOX_UNAVAILABLE',
    `cannot open the outbox ${file}: ${(error as Error).message ?? String(error)}`,
  );
}

/** Renames the database and its WAL files to `<file>.corrupt-<time>`; keeps the newest few such copies. */
function moveAside(file: string): string {
  const target = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      fs.renameSync(`${file}${suffix}`, `${target}${suffix}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.corrupt-`;
  const copies = fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.endsWith('-wal') && !name.endsWith('-shm'))
    .sort();
  for (const old of copies.slice(0, Math.max(0, copies.length - CORRUPT_COPIES_KEPT))) {
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path.join(dir, `${old}${suffix}`), { force: true });
  }
  return target;
}
