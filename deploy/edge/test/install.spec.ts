import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentVersion,
  buildBundle,
  deployDir,
  requireCommand,
  mode,
  removeTempDirs,
  run,
  tempDir,
} from './helpers.js';

const installSh = path.join(deployDir, 'install.sh');

describe('install.sh --root', () => {
  let bundle: string;
  let root: string;
  const install = (...args: string[]) => run(installSh, ['--root', root, '--bundle', bundle, ...args]);

  beforeAll(() => {
    bundle = buildBundle();
    root = tempDir('root');
  });
  afterAll(removeTempDirs);

  it('lays out the program, the command, the unit, the settings and the state directory', () => {
    const result = install();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`installed ${agentVersion}`);
    expect(result.stdout).toContain('not enrolled yet');

    const opt = path.join(root, 'opt/medfleet-agent');
    expect(mode(path.join(opt, 'dist/main.js'))).toBe(0o755);
    expect(mode(path.join(opt, 'package.json'))).toBe(0o644);
    expect(
      fs.existsSync(path.join(opt, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')),
    ).toBe(true);
    expect(fs.existsSync(path.join(opt, 'proto/medfleet/v1/enrollment.proto'))).toBe(true);
    expect(fs.readlinkSync(path.join(root, 'usr/local/bin/medfleet-agent'))).toBe(
      '/opt/medfleet-agent/dist/main.js',
    );
    const unit = path.join(root, 'etc/systemd/system/medfleet-agent.service');
    expect(fs.readFileSync(unit, 'utf8')).toBe(
      fs.readFileSync(path.join(deployDir, 'medfleet-agent.service'), 'utf8'),
    );
    expect(mode(unit)).toBe(0o644);
    expect(mode(path.join(root, 'etc/medfleet/agent.env'))).toBe(0o600);
    expect(mode(path.join(root, 'var/lib/medfleet-agent'))).toBe(0o700);

    const version = run(path.join(opt, 'dist/main.js'), ['--version']);
    expect(version.stdout.trim()).toBe(agentVersion);
  });

  it('is idempotent: a second run replaces the program and keeps edited settings and state', () => {
    const env = path.join(root, 'etc/medfleet/agent.env');
    fs.writeFileSync(env, 'MEDFLEET_SERVER=fleet.example:50051\nMEDFLEET_ENROLLMENT_TOKEN=mfe_x\n');
    fs.writeFileSync(path.join(root, 'var/lib/medfleet-agent/identity.json'), '{}');
    fs.writeFileSync(path.join(root, 'opt/medfleet-agent/stale.txt'), 'from an older version');

    const result = install();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('not enrolled yet');
    expect(fs.readFileSync(env, 'utf8')).toContain('fleet.example:50051');
    expect(fs.existsSync(path.join(root, 'var/lib/medfleet-agent/identity.json'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'opt/medfleet-agent/stale.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(root, 'opt')).sort()).toEqual(['medfleet-agent']);
  });

  it('--uninstall removes the program and keeps state and settings; --purge removes those too', () => {
    const keep = run(installSh, ['--root', root, '--uninstall']);
    expect(keep.status, keep.stderr).toBe(0);
    expect(fs.existsSync(path.join(root, 'opt/medfleet-agent'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'etc/systemd/system/medfleet-agent.service'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'usr/local/bin/medfleet-agent'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'var/lib/medfleet-agent/identity.json'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'etc/medfleet/agent.env'))).toBe(true);

    const purge = run(installSh, ['--root', root, '--uninstall', '--purge']);
    expect(purge.status, purge.stderr).toBe(0);
    expect(fs.existsSync(path.join(root, 'var/lib/medfleet-agent'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'etc/medfleet'))).toBe(false);
  });

  it('refuses a directory that is not a bundle, and unknown options', () => {
    const notBundle = run(installSh, ['--root', tempDir('root2'), '--bundle', tempDir('empty')]);
    expect(notBundle.status).not.toBe(0);
    expect(notBundle.stderr).toContain('no bundle found');
    const unknown = run(installSh, ['--root', tempDir('root3'), '--frobnicate']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('unknown option --frobnicate');
  });
});

describe('shell scripts', () => {
  beforeAll(() => requireCommand('shellcheck', 'shellcheck'));

  it('are shellcheck-clean', () => {
    const scripts = ['install.sh', 'build-deb.sh', 'debian/postinst', 'debian/prerm', 'debian/postrm'];
    const result = run('shellcheck', [
      '--shell=sh',
      ...scripts.map((script) => path.join(deployDir, script)),
    ]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
