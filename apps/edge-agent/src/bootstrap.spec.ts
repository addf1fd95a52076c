import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBootstrapFile, readBootstrapSettings } from './bootstrap.js';
import { makeTempDir, removeDirs, validToken } from './testing/fixtures.js';

const dirs: string[] = [];
afterEach(() => removeDirs(dirs));

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

async function dir(): Promise<string> {
  const made = await makeTempDir();
  dirs.push(made);
  return made;
}

describe('bootstrap settings', () => {
  it('reads server, token, CA file and insecure from the boot-partition file', async () => {
    const root = await dir();
    const token = validToken();
    await fs.writeFile(path.join(root, 'ca.pem'), CA);
    const file = path.join(root, 'medfleet.conf');
    await fs.writeFile(
      file,
      [
        '# written by the imaging script',
        'server = cp.example.test:50052',
        `MEDFLEET_ENROLLMENT_TOKEN="${token}"`,
        `ca_file: ${path.join(root, 'ca.pem')}   # the MSP's CA`,
        'insecure = no',
        '',
      ].join('\r\n'),
    );
    const settings = await readBootstrapSettings({}, file);
    expect(settings).toEqual({
      server: 'cp.example.test:50052',
      token,
      caFile: path.join(root, 'ca.pem'),
      trustedCaPem: CA,
      insecure: false,
      sources: [file],
    });
  });

  it('the environment overrides the file, and names itself as a source', async () => {
    const root = await dir();
    const file = path.join(root, 'medfleet.conf');
    await fs.writeFile(file, 'server = from-file:1\ntoken = from-file\n');
    const settings = await readBootstrapSettings(
      { MEDFLEET_BOOTSTRAP_FILE: file, MEDFLEET_SERVER: 'from-env:2', MEDFLEET_INSECURE: 'true' },
      undefined,
    );
    expect(settings).toMatchObject({ server: 'from-env:2', token: 'from-file', insecure: true });
    expect(settings.sources).toEqual([file, 'MEDFLEET_SERVER', 'MEDFLEET_INSECURE']);
  });

  it('works from the environment alone when no bootstrap file exists', async () => {
    const settings = await readBootstrapSettings({ MEDFLEET_SERVER: 'a:1', MEDFLEET_ENROLLMENT_TOKEN: 't' });
    expect(settings).toMatchObject({ server: 'a:1', token: 't', insecure: false });
  });

  it('refuses a named file that is missing, an unknown key, a bad boolean and a CA file without a certificate', async () => {
    const root = await dir();
    await expect(readBootstrapSettings({}, path.join(root, 'missing.conf'))).rejects.toThrow(
      /does not exist/,
    );
    expect(() => parseBootstrapFile('server = a:1\npassword = x\n', 'f.conf')).toThrow(/f\.conf:2: expected/);
    const bad = path.join(root, 'bad.conf');
    await fs.writeFile(bad, 'insecure = maybe\n');
    await expect(readBootstrapSettings({}, bad)).rejects.toThrow(/expected true or false/);
    await fs.writeFile(path.join(root, 'empty.pem'), 'nothing here');
    await expect(readBootstrapSettings({ MEDFLEET_CA_FILE: path.join(root, 'empty.pem') })).rejects.toThrow(
      /holds no PEM certificate/,
    );
  });
});
