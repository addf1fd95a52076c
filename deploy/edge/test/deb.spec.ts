import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentVersion,
  buildBundle,
  deployDir,
  requireCommand,
  removeTempDirs,
  run,
  tempDir,
} from './helpers.js';

const buildDeb = path.join(deployDir, 'build-deb.sh');

describe('medfleet-agent .deb', () => {
  beforeAll(() => requireCommand('dpkg-deb', 'dpkg'));

  let bundle: string;
  let deb: string;
  let arch: string;

  beforeAll(() => {
    bundle = buildBundle();
    arch = run('dpkg', ['--print-architecture']).stdout.trim();
    const out = tempDir('deb');
    const result = run(buildDeb, ['--bundle', bundle, '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    deb = result.stdout.trim();
  });
  afterAll(removeTempDirs);

  it('is named medfleet-agent_<version>_<arch>.deb after the agent and this machine', () => {
    expect(path.basename(deb)).toBe(`medfleet-agent_${agentVersion}_${arch}.deb`);
    expect(fs.statSync(deb).size).toBeGreaterThan(100_000);
  });

  it('has the control fields, the conffile and executable maintainer scripts', () => {
    const field = (name: string) => run('dpkg-deb', ['-f', deb, name]).stdout.trim();
    expect(field('Package')).toBe('medfleet-agent');
    expect(field('Version')).toBe(agentVersion);
    expect(field('Architecture')).toBe(arch);
    expect(field('Depends')).toContain('nodejs (>= 20)');
    expect(field('Maintainer')).not.toBe('');
    expect(Number(field('Installed-Size'))).toBeGreaterThan(1000);

    const info = run('dpkg-deb', ['-I', deb]).stdout;
    for (const script of ['postinst', 'prerm', 'postrm']) {
      expect(info).toMatch(new RegExp(`\\d+ bytes,\\s+\\d+ lines\\s+\\*\\s+${script}\\s+#!/bin/sh`));
    }
    const control = tempDir('control');
    expect(run('dpkg-deb', ['-e', deb, control]).status).toBe(0);
    expect(fs.readFileSync(path.join(control, 'conffiles'), 'utf8')).toBe('/etc/medfleet/agent.env\n');
    for (const script of ['postinst', 'prerm', 'postrm']) {
      expect(run('sh', ['-n', path.join(control, script)]).status).toBe(0);
    }
    const postinst = fs.readFileSync(path.join(control, 'postinst'), 'utf8');
    expect(postinst).toContain('useradd --system');
    expect(postinst).toContain('chmod 700 /var/lib/medfleet-agent');
    expect(postinst).toContain('systemctl enable medfleet-agent.service');
    expect(fs.readFileSync(path.join(control, 'prerm'), 'utf8')).toContain(
      'systemctl stop medfleet-agent.service',
    );
    expect(fs.readFileSync(path.join(control, 'postrm'), 'utf8')).toMatch(
      /purge\)[\s\S]*rm -rf \/var\/lib\/medfleet-agent/,
    );
  });

  it('installs the bundle, the unit, the command and the settings with the right owners and modes', () => {
    const listing = new Map(
      run('dpkg-deb', ['-c', deb])
        .stdout.trim()
        .split('\n')
        .map((line) => {
          const [perms, owner, , , , ...rest] = line.split(/\s+/);
          const name = rest.join(' ').replace(/^\.\//, '/');
          return [name.split(' -> ')[0] as string, { perms, owner, name }];
        }),
    );
    const expectEntry = (file: string, perms: string) => {
      expect(listing.get(file), file).toMatchObject({ perms, owner: 'root/root' });
    };
    expectEntry('/opt/medfleet-agent/dist/main.js', '-rwxr-xr-x');
    expectEntry('/opt/medfleet-agent/package.json', '-rw-r--r--');
    expectEntry('/opt/medfleet-agent/proto/medfleet/v1/enrollment.proto', '-rw-r--r--');
    expectEntry(
      '/opt/medfleet-agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      '-rw-r--r--',
    );
    expectEntry('/opt/medfleet-agent/node_modules/bindings/bindings.js', '-rw-r--r--');
    expectEntry('/usr/lib/systemd/system/medfleet-agent.service', '-rw-r--r--');
    expectEntry('/etc/medfleet/agent.env', '-rw-------');
    expect(listing.get('/usr/bin/medfleet-agent')?.name).toBe(
      '/usr/bin/medfleet-agent -> ../../opt/medfleet-agent/dist/main.js',
    );
    // Nothing of the build machine: no sources of the native module, no other JavaScript than the bundle.
    const files = [...listing.keys()];
    expect(files.filter((file) => file.includes('/deps/') || file.endsWith('.cpp'))).toEqual([]);
    expect(files.filter((file) => file.endsWith('.js') && !file.includes('/node_modules/'))).toEqual([
      '/opt/medfleet-agent/dist/main.js',
    ]);
  });

  it('runs from its extracted files', () => {
    const root = tempDir('extract');
    expect(run('dpkg-deb', ['-x', deb, root]).status).toBe(0);
    const version = run(path.join(root, 'usr/bin/medfleet-agent'), ['--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(agentVersion);
  });

  it('refuses an architecture the native module was not built for', () => {
    const other = arch === 'arm64' ? 'amd64' : 'arm64';
    const result = run(buildDeb, [other, '--bundle', bundle, '--out', tempDir('wrong-arch')]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`not ${other}`);
  });
});
