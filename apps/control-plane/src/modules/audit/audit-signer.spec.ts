import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/app-config.js';
import { AuditSigner, GENERATED_KEY_FILE } from './audit-signer.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medfleet-signer-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function warnings() {
  const messages: string[] = [];
  return { messages, logger: { warn: (message: string) => messages.push(message) } };
}

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('AuditSigner', () => {
  it('without AUDIT_SIGNING_KEY_FILE, generates a key once into DATA_DIR (mode 0600), warning', () => {
    const dataDir = tempDir();
    const first = warnings();
    const signer = AuditSigner.load({ DATA_DIR: dataDir, AUDIT_SIGNING_KEY_FILE: undefined }, first.logger);
    expect(first.messages.join()).toMatch(/AUDIT_SIGNING_KEY_FILE is not set/);
    expect(statSync(path.join(dataDir, GENERATED_KEY_FILE)).mode & 0o777).toBe(0o600);

    const again = warnings();
    const reloaded = AuditSigner.load({ DATA_DIR: dataDir, AUDIT_SIGNING_KEY_FILE: undefined }, again.logger);
    expect(reloaded.keyId).toBe(signer.keyId);
    expect(again.messages).toEqual([]);
  });

  it('signs with the configured Ed25519 key, verifiably by its public key only', () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.pem');
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const signer = AuditSigner.load({ DATA_DIR: dir, AUDIT_SIGNING_KEY_FILE: file }, warnings().logger);
    const signature = signer.sign('payload');
    expect(signature).toHaveLength(64);
    expect(AuditSigner.verify(signer.publicKeyPem, 'payload', signature)).toBe(true);
    expect(AuditSigner.verify(signer.publicKeyPem, 'payloaD', signature)).toBe(false);
    expect(AuditSigner.verify('not a key', 'payload', signature)).toBe(false);
  });

  it('warns when the key file is readable by others', () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.pem');
    writeFileSync(file, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o644,
    });
    const { messages, logger } = warnings();
    AuditSigner.load({ DATA_DIR: dir, AUDIT_SIGNING_KEY_FILE: file }, logger);
    expect(messages.join()).toMatch(/readable by other users/);
  });

  it.each([
    ['a missing file', () => '/nonexistent/audit.pem'],
    [
      'an RSA key',
      (dir: string) => {
        const file = path.join(dir, 'rsa.pem');
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
        return file;
      },
    ],
    [
      'not a key at all',
      (dir: string) => {
        const file = path.join(dir, 'junk.pem');
        writeFileSync(file, 'hello', { mode: 0o600 });
        return file;
      },
    ],
  ])('refuses %s, naming AUDIT_SIGNING_KEY_FILE', (_name, make) => {
    const dir = tempDir();
    const error = configError(() =>
      AuditSigner.load({ DATA_DIR: dir, AUDIT_SIGNING_KEY_FILE: make(dir) }, warnings().logger),
    );
    expect(error.problems.map((problem) => problem.variable)).toEqual(['AUDIT_SIGNING_KEY_FILE']);
  });
});
