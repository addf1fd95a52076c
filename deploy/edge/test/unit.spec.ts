import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deployDir, requireCommand, removeTempDirs, run, tempDir } from './helpers.js';

const unitFile = path.join(deployDir, 'medfleet-agent.service');

/** `[Section] Key=value` lines of a unit, every value of a repeated key kept in order. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

function systemdVersion(): number {
  return Number(/systemd (\d+)/.exec(run('systemd-analyze', ['--version']).stdout)?.[1] ?? 0);
}

describe('medfleet-agent.service', () => {
  const unit = parseUnit(fs.readFileSync(unitFile, 'utf8'));
  const value = (key: string) => unit.get(`Service.${key}`);
  afterAll(removeTempDirs);

  it('is hardened: read-only system, no home, private tmp, no new privileges, only capture capabilities', () => {
    expect(value('NoNewPrivileges')).toEqual(['yes']);
    expect(value('ProtectSystem')).toEqual(['strict']);
    expect(value('ProtectHome')).toEqual(['yes']);
    expect(value('PrivateTmp')).toEqual(['yes']);
    expect(value('ReadWritePaths')).toEqual(['/var/lib/medfleet-agent']);
    expect(value('StateDirectory')).toEqual(['medfleet-agent']);
    expect(value('StateDirectoryMode')).toEqual(['0700']);
    expect(value('User')).toEqual(['medfleet-agent']);
    expect(value('CapabilityBoundingSet')).toEqual(['CAP_NET_RAW CAP_NET_ADMIN']);
    expect(value('AmbientCapabilities')).toEqual(['CAP_NET_RAW CAP_NET_ADMIN']);
    expect(value('RestrictAddressFamilies')?.[0]?.split(' ').sort()).toEqual(
      ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_PACKET', 'AF_UNIX'].sort(),
    );
    expect(value('SystemCallFilter')).toEqual(['@system-service']);
    expect(value('MemoryMax')?.[0]).toMatch(/^\d+[KMG]$/);
  });

  it('restarts on failure with a delay and never gives up', () => {
    expect(value('Restart')).toEqual(['on-failure']);
    expect(value('RestartSec')).toEqual(['5s']);
    expect(value('RestartSteps')).toEqual(['10']);
    expect(value('RestartMaxDelaySec')).toEqual(['5min']);
    expect(unit.get('Unit.StartLimitIntervalSec')).toEqual(['0']);
  });

  it('is Type=simple without a watchdog (the agent does not call sd_notify)', () => {
    expect(value('Type')).toEqual(['simple']);
    expect(value('WatchdogSec')).toBeUndefined();
    expect(value('NotifyAccess')).toBeUndefined();
  });

  it('reads bootstrap settings from the boot partition and /etc, and runs the bundle, which enrolls itself', () => {
    expect(value('EnvironmentFile')).toEqual(['-/boot/firmware/medfleet.env', '-/etc/medfleet/agent.env']);
    // A pre-start enroll would be cut short by the start timeout while the agent waits for approval.
    expect(value('ExecStartPre')).toBeUndefined();
    expect(value('ExecStart')).toEqual(['/opt/medfleet-agent/dist/main.js run']);
    expect(unit.get('Install.WantedBy')).toEqual(['multi-user.target']);
  });

  it('passes systemd-analyze verify against an installed layout', () => {
    requireCommand('systemd-analyze', 'systemd');
    // verify also checks that the commands exist: point them at a throwaway install.
    const root = tempDir('verify-root');
    const install = run(path.join(deployDir, 'install.sh'), ['--root', root, '--bundle', fakeBundle()]);
    expect(install.status, install.stderr).toBe(0);
    const copy = path.join(tempDir('verify-unit'), 'medfleet-agent.service');
    fs.writeFileSync(
      copy,
      fs.readFileSync(unitFile, 'utf8').replaceAll('/opt/medfleet-agent/', `${root}/opt/medfleet-agent/`),
    );
    const verify = run('systemd-analyze', ['verify', copy]);
    expect(verify.status, verify.stderr).toBe(0);
    const complaints = verify.stderr
      .split('\n')
      .filter((line) => line.trim() !== '')
      // systemd < 254 (Debian 12, Raspberry Pi OS bookworm) does not know the backoff keys yet.
      .filter(
        (line) => systemdVersion() >= 254 || !/Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(line),
      );
    expect(complaints).toEqual([]);

    const security = run('systemd-analyze', ['security', '--offline=true', copy]);
    if (security.status === 0) {
      const exposure = Number(/Overall exposure level for .*: ([\d.]+)/.exec(security.stdout)?.[1]);
      expect(exposure).toBeLessThanOrEqual(3);
    }
  });
});

/** The smallest directory install.sh accepts as a bundle (the unit tests need no real agent). */
function fakeBundle(): string {
  const dir = tempDir('fake-bundle');
  fs.mkdirSync(path.join(dir, 'dist'));
  fs.mkdirSync(path.join(dir, 'proto'));
  fs.mkdirSync(path.join(dir, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), '');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"version":"0.0.0"}');
  fs.writeFileSync(path.join(dir, 'dist/main.js'), '#!/bin/sh\necho 0.0.0\n', { mode: 0o755 });
  return dir;
}
