/**
 * Secrets the control plane must read back (TOTP seeds, OpenID Connect client secrets), sealed with
 * AES-256-GCM under SECRETS_ENCRYPTION_KEY. Without a key they are stored marked as plain text, so a key
 * can be added later: new writes are sealed and old values still read.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';

const SEALED = 'v1:';
const PLAIN = 'plain:';

@Injectable()
export class SecretBox {
  private readonly key: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = config.SECRETS_ENCRYPTION_KEY ? Buffer.from(config.SECRETS_ENCRYPTION_KEY, 'base64') : null;
    if (!this.key && !config.embeddedDatabase) {
      new Logger(SecretBox.name).warn(
        'SECRETS_ENCRYPTION_KEY is not set: TOTP seeds and SSO client secrets are stored unencrypted',
      );
    }
  }

  seal(plain: string): string {
    if (!this.key) return `${PLAIN}${plain}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${SEALED}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(stored: string): string {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
    if (!stored.startsWith(SEALED)) throw new Error('unrecognized sealed secret');
    if (!this.key) throw new Error('a sealed secret needs SECRETS_ENCRYPTION_KEY to be read');
    const raw = Buffer.from(stored.slice(SEALED.length), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
