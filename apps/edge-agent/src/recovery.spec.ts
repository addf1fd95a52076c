// An unclean shutdown (the previous run's state lock still there) is detected at the next start.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockStateDir } from './state.js';

const dirs: string[] = [];
const stateDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-recovery-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('unclean shutdown detection', () => {
  it('a clean stop leaves nothing to report', async () => {
    const dir = stateDir();
    const first = await lockStateDir(dir);
    expect(first.uncleanShutdown).toBeNull();
    await first.release();
    const second = await lockStateDir(dir);
    expect(second.uncleanShutdown).toBeNull();
    await second.release();
  });

  it('a lock left by a dead process of this boot is a crash, not a reboot', async () => {
    const dir = stateDir();
    const first = await lockStateDir(dir);
    const lockFile = path.join(dir, 'agent.lock');
    const owner = JSON.parse(readFileSync(lockFile, 'utf8'));
    // The process that held it is gone (a pid that cannot exist), the machine did not restart.
    writeFileSync(lockFile, JSON.stringify({ ...owner, pid: 2 ** 22 + 7 }));
    const second = await lockStateDir(dir);
    expect(second.uncleanShutdown).toEqual({ rebooted: false, previousStartedAt: owner.startedAt });
    await second.release();
    await first.release();
  });

  it('a lock from before the last boot is a power loss or reboot', async () => {
    const dir = stateDir();
    writeFileSync(
      path.join(dir, 'agent.lock'),
      JSON.stringify({
        pid: process.pid,
        bootId: 'another-boot',
        token: 'x',
        startedAt: '2026-09-09T22:14:51.000Z',
      }),
    );
    const lock = await lockStateDir(dir);
    expect(lock.uncleanShutdown).toEqual({ rebooted: true, previousStartedAt: '2026-09-09T22:14:51.000Z' });
    await lock.release();
  });
});
