/**
 * Seals the private keys of the certificate authorities before they go into the database (AES-256-GCM).
 * The sealing key comes from PKI_KEY_ENCRYPTION_KEY (required for several replicas: they must all use the
 * same one); without it, a key is generated once into the data directory (0600) and reused from there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const VERSION = 'v1:';

export class KeySealer {
  private constructor(
    private readonly key: Buffer,
    /** Where the key came from, for error messages. */
    readonly source: string,
  ) {}

  static fromConfig(configuredKey: string | undefined, dataDir: string): KeySealer {
    if (configuredKey) return new KeySealer(Buffer.from(configuredKey, 'base64'), 'PKI_KEY_ENCRYPTION_KEY');
    const file = path.join(dataDir, 'pki', 'ca-key-encryption.key');
    let key: Buffer;
    try {
      key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      key = randomBytes(32);
      // 'wx': two processes sharing a data directory never overwrite each other's key.
      try {
        writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (raced) {
        if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
        key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
      }
    }
    chmodSync(file, 0o600);
    if (key.length !== 32) throw new Error(`${file} must hold 32 random bytes, base64-encoded`);
    return new KeySealer(key, file);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith(VERSION)) throw new Error('unrecognized sealed key');
    const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(
        `a certificate authority key cannot be unsealed with the key from ${this.source}: ` +
          'it was sealed with another one (set PKI_KEY_ENCRYPTION_KEY to the key used before)',
      );
    }
  }
}
