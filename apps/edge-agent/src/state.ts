/**
 * The agent's state directory: the identity it got at enrollment and its envelope sequence counter.
 * Both hold what must survive a crash, so every write is atomic (temp file, fsync, rename, fsync dir).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EnrollResponse } from '@medfleet/contracts';
import { z } from 'zod';
import { AgentException } from './agent.exception.js';

export const DEFAULT_STATE_DIR = '/var/lib/medfleet-agent';
export const IDENTITY_FILE = 'identity.json';
export const SEQ_FILE = 'seq.json';
export const LOCK_FILE = 'agent.lock';
/** The agent's private key (PKCS#8 PEM, 0600): made on the box, never sent anywhere. */
export const KEY_FILE = 'agent.key';
/** A renewed key, kept beside the old one until the identity holds the certificate for it. */
export const NEXT_KEY_FILE = 'agent.key.next';
/** An enrollment waiting for a technician's approval: what the agent polls with. */
export const PENDING_FILE = 'pending.json';

/** What `enroll` stores: the control plane's answer plus where and when it was obtained. */
export interface AgentIdentity extends Omit<EnrollResponse, 'approvalState' | 'pollSecret' | 'pollAfterSec'> {
  /** The enrollment server, `host:port`. */
  server: string;
  enrolledAt: string;
  trustedCaPem?: string;
}

/** An enrollment waiting for approval, kept so that a restarted agent resumes polling instead of enrolling again. */
export interface PendingEnrollment {
  agentId: string;
  tenantId: string;
  siteId: string;
  pollSecret: string;
  pollAfterSec: number;
  server: string;
  insecure: boolean;
  trustedCaPem?: string;
  since: string;
}

const pendingSchema = z.object({
  agentId: z.uuid(),
  tenantId: z.uuid(),
  siteId: z.uuid(),
  pollSecret: z.string().min(1),
  pollAfterSec: z.number().int().nonnegative(),
  server: z.string().min(1),
  insecure: z.boolean(),
  trustedCaPem: z.string().optional(),
  since: z.iso.datetime({ offset: true }),
}) satisfies z.ZodType<PendingEnrollment>;

export async function readPending(stateDir: string): Promise<PendingEnrollment | undefined> {
  const file = path.join(stateDir, PENDING_FILE);
  const json = await readJson(file);
  if (json === undefined) return undefined;
  const parsed = pendingSchema.safeParse(json);
  if (!parsed.success) {
    throw new AgentException(
      'STATE_INVALID',
      `${file} is not a valid pending enrollment: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

export async function savePending(stateDir: string, pending: PendingEnrollment): Promise<void> {
  await writeFileAtomic(path.join(stateDir, PENDING_FILE), `${JSON.stringify(pending, null, 2)}\n`, 0o600);
}

export async function removePending(stateDir: string): Promise<void> {
  await fs.rm(path.join(stateDir, PENDING_FILE), { force: true });
}

/** The agent's private key, or undefined before it made one. */
export async function readPrivateKey(stateDir: string, file = KEY_FILE): Promise<string | undefined> {
  try {
    return await fs.readFile(path.join(stateDir, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function savePrivateKey(stateDir: string, pem: string, file = KEY_FILE): Promise<string> {
  const target = path.join(stateDir, file);
  await writeFileAtomic(target, pem, 0o600);
  return target;
}

const uuid = z.uuid();

export const identitySchema = z.object({
  agentId: uuid,
  organizationId: z.string(),
  tenantId: uuid,
  siteId: uuid,
  certificatePem: z.string(),
  caChainPem: z.array(z.string()),
  mqtt: z.object({
    url: z.string().regex(/^(mqtts?|wss?):\/\/\S+$/, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
    clientId: z.string().min(1),
    username: z.string(),
    password: z.string(),
    topicPrefix: z.string(),
    // proto3 sends 0 for "not set"; identities stored before the field existed lack it: both mean MQTT 5.
    protocolVersion: z
      .union([z.literal(0), z.literal(4), z.literal(5)])
      .optional()
      .transform((version): 4 | 5 => (version === 4 ? 4 : 5)),
  }),
  config: z.object({
    inventoryIntervalSec: z.number().int().nonnegative(),
    healthIntervalSec: z.number().int().nonnegative(),
  }),
  siteTimeZone: z.string(),
  // Where to renew the certificate over mutual TLS, and the CA to trust there (absent before v1.1 agents).
  grpcTlsAddress: z.string().optional(),
  grpcServerCaPem: z.string().optional(),
  /** The CA bundle the agent was told to trust at enrollment (bootstrap settings or --ca-file). */
  trustedCaPem: z.string().optional(),
  server: z.string().min(1),
  enrolledAt: z.iso.datetime({ offset: true }),
}) satisfies z.ZodType<AgentIdentity>;

export function defaultStateDir(env: Record<string, string | undefined> = process.env): string {
  return env['MEDFLEET_STATE_DIR'] || DEFAULT_STATE_DIR;
}

export interface StateDirInfo {
  created: boolean;
  /** Permission bits of the directory; a group/other bit set on an existing directory deserves a warning. */
  mode: number;
}

/** Creates the state directory owner-only (0700). An existing one is left as it is, see `mode`. */
export async function ensureStateDir(dir: string): Promise<StateDirInfo> {
  const firstCreated = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (firstCreated !== undefined) await fs.chmod(dir, 0o700);
  const stat = await fs.stat(dir);
  if (!stat.isDirectory()) {
    throw new AgentException('STATE_INVALID', `state directory ${dir} exists but is not a directory`);
  }
  return { created: firstCreated !== undefined, mode: stat.mode & 0o777 };
}

/** Replaces `file` with `data` so a crash leaves either the old or the new content, never a torn one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** Makes the rename itself durable; some platforms cannot open a directory for that, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF'].includes((error as NodeJS.ErrnoException).code ?? ''))
      throw error;
  } finally {
    await handle?.close();
  }
}

export interface StateLock {
  release(): Promise<void>;
  /**
   * Set when the lock of a previous run was still there: that run never stopped cleanly (a crash, a kill,
   * a power cut). `rebooted` tells whether the machine itself restarted since.
   */
  readonly uncleanShutdown: { rebooted: boolean; previousStartedAt?: string } | null;
}

interface LockOwner {
  pid: number;
  bootId: string;
  token: string;
  startedAt?: string;
}

/**
 * Claims the state directory for this process. Two agents on one directory would hand out the same seqs,
 * which the control plane drops as replays. A lock left by a crashed process (dead pid, or written before
 * the last reboot) is taken over.
 */
export async function lockStateDir(stateDir: string): Promise<StateLock> {
  await ensureStateDir(stateDir);
  const file = path.join(stateDir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    bootId: await currentBootId(),
    token: randomBytes(8).toString('hex'),
    startedAt: new Date().toISOString(),
  };
  let uncleanShutdown: StateLock['uncleanShutdown'] = null;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await fs.writeFile(file, `${JSON.stringify(owner)}\n`, { flag: 'wx', mode: 0o600 });
      return {
        uncleanShutdown,
        release: async () => {
          const current = (await readJson(file).catch(() => undefined)) as Partial<LockOwner> | undefined;
          if (current?.token === owner.token) await fs.rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = (await readJson(file).catch(() => undefined)) as Partial<LockOwner> | undefined;
      if (holder && isAlive(holder, owner.bootId)) {
        throw new AgentException(
          'STATE_LOCKED',
          `state directory ${stateDir} is in use by another agent process (pid ${holder.pid}); ` +
            `if none is running, delete ${file}`,
        );
      }
      // The previous run's lock outlived it: that run ended without stopping (an unreadable lock counts too).
      uncleanShutdown = {
        rebooted: holder?.bootId !== owner.bootId,
        ...(typeof holder?.startedAt === 'string' ? { previousStartedAt: holder.startedAt } : {}),
      };
      await fs.rm(file, { force: true });
    }
  }
  throw new AgentException('STATE_LOCKED', `could not lock state directory ${stateDir}`);
}

function isAlive(holder: Partial<LockOwner>, bootId: string): boolean {
  if (typeof holder.pid !== 'number' || holder.bootId !== bootId) return false;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function currentBootId(): Promise<string> {
  try {
    return (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}

async function readJson(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AgentException('STATE_INVALID', `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

export function parseIdentity(value: unknown, source: string): AgentIdentity {
  const parsed = identitySchema.safeParse(value);
  if (!parsed.success) {
    throw new AgentException(
      'STATE_INVALID',
      `${source} is not a valid identity: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** The stored identity, or undefined when the agent has not enrolled yet. */
export async function readIdentity(stateDir: string): Promise<AgentIdentity | undefined> {
  const file = path.join(stateDir, IDENTITY_FILE);
  const json = await readJson(file);
  return json === undefined ? undefined : parseIdentity(json, file);
}

export async function loadIdentity(stateDir: string): Promise<AgentIdentity> {
  const identity = await readIdentity(stateDir);
  if (!identity) {
    throw new AgentException(
      'NOT_ENROLLED',
      `not enrolled: ${path.join(stateDir, IDENTITY_FILE)} does not exist; ` +
        'run "medfleet-agent enroll --server <host:port> --token <token>" first',
    );
  }
  return identity;
}

export async function saveIdentity(stateDir: string, identity: AgentIdentity): Promise<string> {
  const valid = parseIdentity(identity, 'the identity to save');
  await ensureStateDir(stateDir);
  const file = path.join(stateDir, IDENTITY_FILE);
  await writeFileAtomic(file, `${JSON.stringify(valid, null, 2)}\n`, 0o600);
  return file;
}

const seqStateSchema = z.strictObject({
  agentId: z.string(),
  lastSeq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  lastAckedSeq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});
type SeqState = z.infer<typeof seqStateSchema>;

export interface AckRecord {
  /** True when the control plane acknowledged more than this agent remembers issuing (state lost or restored
   * from an old backup): the counter jumped past it, since anything at or below would be taken as a replay. */
  jumped: boolean;
  previousLastSeq: number;
}

/**
 * The envelope sequence counter. A seq is written and fsync'd before anyone may publish it, so a restart
 * never hands out a seq twice (the control plane would drop the second message as a replay). Writes are
 * serialized; the last acknowledged seq rides along so a restart knows what was still unacknowledged.
 */
export class SeqStore {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private state: SeqState,
    /** True when the stored counter belonged to another agent id (re-enrollment) and was started afresh. */
    readonly resetFromAgentId?: string,
  ) {}

  static async open(stateDir: string, agentId: string): Promise<SeqStore> {
    await ensureStateDir(stateDir);
    const file = path.join(stateDir, SEQ_FILE);
    const json = await readJson(file);
    if (json === undefined) return new SeqStore(file, { agentId, lastSeq: 0, lastAckedSeq: 0 });
    const parsed = seqStateSchema.safeParse(json);
    if (!parsed.success) {
      // Never guess: restarting at 0 would turn every following message into a replay.
      throw new AgentException(
        'STATE_INVALID',
        `${file} is not a valid sequence file: ${describeIssues(parsed.error)}`,
      );
    }
    if (parsed.data.agentId !== agentId) {
      return new SeqStore(file, { agentId, lastSeq: 0, lastAckedSeq: 0 }, parsed.data.agentId);
    }
    return new SeqStore(file, parsed.data);
  }

  get lastSeq(): number {
    return this.state.lastSeq;
  }

  get lastAckedSeq(): number {
    return this.state.lastAckedSeq;
  }

  /** Reserves the next seq; it is on disk when the promise resolves. */
  next(): Promise<number> {
    return this.serialize(async () => {
      const next = { ...this.state, lastSeq: this.state.lastSeq + 1 };
      await this.write(next);
      this.state = next;
      return next.lastSeq;
    });
  }

  recordAck(ackedSeq: number): Promise<AckRecord> {
    return this.serialize(async () => {
      const previousLastSeq = this.state.lastSeq;
      if (ackedSeq <= this.state.lastAckedSeq) return { jumped: false, previousLastSeq };
      const jumped = ackedSeq > previousLastSeq;
      const next = { ...this.state, lastAckedSeq: ackedSeq, lastSeq: Math.max(previousLastSeq, ackedSeq) };
      await this.write(next);
      this.state = next;
      return { jumped, previousLastSeq };
    });
  }

  /**
   * Moves the counter up to `seq` when something durable (the outbox) already holds it: the seq file was
   * lost or restored from an older copy, and handing out those seqs again would turn new messages into
   * replays. Resolves to true when it moved.
   */
  advanceTo(seq: number): Promise<boolean> {
    return this.serialize(async () => {
      if (seq <= this.state.lastSeq) return false;
      const next = { ...this.state, lastSeq: seq };
      await this.write(next);
      this.state = next;
      return true;
    });
  }

  /** Resolves once every write queued so far is on disk. */
  async idle(): Promise<void> {
    await this.chain;
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = this.chain.then(work);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private write(state: SeqState): Promise<void> {
    return writeFileAtomic(this.file, `${JSON.stringify(state)}\n`, 0o600);
  }
}
