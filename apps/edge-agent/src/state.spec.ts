import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentException } from './agent.exception.js';
import {
  ensureStateDir,
  IDENTITY_FILE,
  loadIdentity,
  LOCK_FILE,
  lockStateDir,
  readIdentity,
  saveIdentity,
  SEQ_FILE,
  SeqStore,
  writeFileAtomic,
} from './state.js';
import { makeIdentity, makeTempDir, removeDirs } from './testing/fixtures.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}
afterEach(() => removeDirs(dirs));

const modeOf = async (file: string) => (await fs.stat(file)).mode & 0o777;

describe('state directory and identity', () => {
  it('creates the state directory owner-only and the identity file 0600', async () => {
    const stateDir = path.join(await tempDir(), 'nested', 'state');
    const identity = makeIdentity();
    const file = await saveIdentity(stateDir, identity);
    expect(file).toBe(path.join(stateDir, IDENTITY_FILE));
    expect(await modeOf(stateDir)).toBe(0o700);
    expect(await modeOf(file)).toBe(0o600);
    expect(await loadIdentity(stateDir)).toEqual(identity);
  });

  it('reports the mode of an existing directory instead of changing it', async () => {
    const dir = await tempDir();
    await fs.chmod(dir, 0o755);
    expect(await ensureStateDir(dir)).toEqual({ created: false, mode: 0o755 });
    expect(await modeOf(dir)).toBe(0o755);
  });

  it('says clearly when the agent is not enrolled', async () => {
    const stateDir = await tempDir();
    expect(await readIdentity(stateDir)).toBeUndefined();
    await expect(loadIdentity(stateDir)).rejects.toMatchObject({
      code: 'NOT_ENROLLED',
      message: expect.stringContaining('medfleet-agent enroll'),
    });
  });

  it('refuses a damaged identity file', async () => {
    const stateDir = await tempDir();
    await fs.writeFile(path.join(stateDir, IDENTITY_FILE), '{"agentId": "not-a-uuid"');
    await expect(loadIdentity(stateDir)).rejects.toMatchObject({ code: 'STATE_INVALID' });
    await fs.writeFile(path.join(stateDir, IDENTITY_FILE), JSON.stringify({ agentId: 'x' }));
    await expect(loadIdentity(stateDir)).rejects.toThrow(/agentId/);
  });

  it('reads an identity without an MQTT protocol version as MQTT 5', async () => {
    const stateDir = await tempDir();
    const identity = makeIdentity();
    const { protocolVersion: _omitted, ...mqttWithoutVersion } = identity.mqtt;
    await fs.writeFile(
      path.join(stateDir, IDENTITY_FILE),
      JSON.stringify({ ...identity, mqtt: mqttWithoutVersion }),
    );
    expect((await loadIdentity(stateDir)).mqtt.protocolVersion).toBe(5);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the content and leaves no temporary file behind', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'data.json');
    await writeFileAtomic(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(await fs.readFile(file, 'utf8')).toBe('new');
    expect(await modeOf(file)).toBe(0o600);
    expect(await fs.readdir(dir)).toEqual(['data.json']);
  });

  it('keeps the old content and cleans up when the final rename fails', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'occupied');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'keep'), 'x');
    await expect(writeFileAtomic(target, 'new')).rejects.toThrow();
    expect(await fs.readdir(dir)).toEqual(['occupied']);
    expect(await fs.readFile(path.join(target, 'keep'), 'utf8')).toBe('x');
  });
});

describe('SeqStore', () => {
  const agentId = makeIdentity().agentId;

  it('never hands out a seq twice, across concurrent calls and reloads', async () => {
    const stateDir = await tempDir();
    const first = await SeqStore.open(stateDir, agentId);
    const seqs = await Promise.all(Array.from({ length: 20 }, () => first.next()));
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
    expect(await modeOf(path.join(stateDir, SEQ_FILE))).toBe(0o600);

    const reloaded = await SeqStore.open(stateDir, agentId);
    expect(reloaded.lastSeq).toBe(20);
    expect(await reloaded.next()).toBe(21);
    expect((await SeqStore.open(stateDir, agentId)).lastSeq).toBe(21);
  });

  it('persists the acknowledged seq and only moves it forward', async () => {
    const stateDir = await tempDir();
    const store = await SeqStore.open(stateDir, agentId);
    for (let i = 0; i < 5; i += 1) await store.next();
    expect(await store.recordAck(3)).toEqual({ jumped: false, previousLastSeq: 5 });
    await store.recordAck(2);
    const reloaded = await SeqStore.open(stateDir, agentId);
    expect([reloaded.lastSeq, reloaded.lastAckedSeq]).toEqual([5, 3]);
  });

  it('jumps past seqs the control plane already committed that this agent forgot', async () => {
    const stateDir = await tempDir();
    const store = await SeqStore.open(stateDir, agentId);
    await store.next();
    expect(await store.recordAck(40)).toEqual({ jumped: true, previousLastSeq: 1 });
    expect(await store.next()).toBe(41);
    expect((await SeqStore.open(stateDir, agentId)).lastSeq).toBe(41);
  });

  it('starts afresh for a new agent id but refuses a damaged file', async () => {
    const stateDir = await tempDir();
    const store = await SeqStore.open(stateDir, agentId);
    await store.next();
    const other = await SeqStore.open(stateDir, makeIdentity().agentId);
    expect(other.resetFromAgentId).toBe(agentId);
    expect(await other.next()).toBe(1);

    await fs.writeFile(path.join(stateDir, SEQ_FILE), '{"lastSeq": -1}');
    const error = await SeqStore.open(stateDir, agentId).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AgentException);
    expect(error).toMatchObject({ code: 'STATE_INVALID' });
  });
});

describe('lockStateDir', () => {
  it('lets one holder at a time use the directory', async () => {
    const stateDir = await tempDir();
    const lock = await lockStateDir(stateDir);
    await expect(lockStateDir(stateDir)).rejects.toMatchObject({ code: 'STATE_LOCKED' });
    await lock.release();
    const again = await lockStateDir(stateDir);
    await again.release();
    expect(await fs.readdir(stateDir)).toEqual([]);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const stateDir = await tempDir();
    const bootId = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    // Pids are below 2^22 on Linux, so this one cannot be alive.
    await fs.writeFile(path.join(stateDir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, bootId, token: 'x' }));
    const lock = await lockStateDir(stateDir);
    await lock.release();
  });
});
