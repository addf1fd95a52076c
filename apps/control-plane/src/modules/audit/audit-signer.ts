/**
 * The Ed25519 key that signs audit checkpoints. It comes from AUDIT_SIGNING_KEY_FILE (a PKCS#8 PEM), or is
 * generated once into DATA_DIR (mode 0600) when that is unset, which suits one embedded process only:
 * replicas must share one key file.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { ConfigError, type AppConfig } from '../../config/app-config.js';

export const GENERATED_KEY_FILE = 'audit-signing-key.pem';
export const SIGNING_ALGORITHM = 'Ed25519';

interface SignerLogger {
  warn(message: string): void;
}

export class AuditSigner {
  private constructor(
    private readonly privateKey: KeyObject,
    /** SPKI PEM of the public key, for auditors who verify offline. */
    readonly publicKeyPem: string,
    /** First 16 bytes (hex) of the SHA-256 of the public key's DER form. */
    readonly keyId: string,
    /** Where the key came from, for logs. */
    readonly source: string,
  ) {}

  static load(
    config: Pick<AppConfig, 'AUDIT_SIGNING_KEY_FILE' | 'DATA_DIR'>,
    logger: SignerLogger,
  ): AuditSigner {
    const configured = config.AUDIT_SIGNING_KEY_FILE;
    if (configured) {
      let pem: string;
      try {
        pem = readFileSync(configured, 'utf8');
      } catch (error) {
        throw new ConfigError([
          { variable: 'AUDIT_SIGNING_KEY_FILE', message: `cannot read ${configured}: ${String(error)}` },
        ]);
      }
      warnIfReadableByOthers(configured, 'AUDIT_SIGNING_KEY_FILE', logger);
      return AuditSigner.fromPem(pem, configured, 'AUDIT_SIGNING_KEY_FILE');
    }

    const file = path.join(config.DATA_DIR, GENERATED_KEY_FILE);
    mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
    try {
      const { privateKey } = generateKeyPairSync('ed25519');
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      // `wx`: never overwrite a key that checkpoints may already be signed with.
      writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
      logger.warn(
        `AUDIT_SIGNING_KEY_FILE is not set: generated an audit signing key at ${file}. ` +
          'Back it up, and set AUDIT_SIGNING_KEY_FILE to one shared key file when running several replicas.',
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      warnIfReadableByOthers(file, 'the generated audit signing key', logger);
    }
    return AuditSigner.fromPem(readFileSync(file, 'utf8'), file, 'the generated audit signing key');
  }

  private static fromPem(pem: string, source: string, name: string): AuditSigner {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch (error) {
      throw new ConfigError([
        {
          variable: 'AUDIT_SIGNING_KEY_FILE',
          message: `${name} (${source}) is not a PEM private key: ${String(error)}`,
        },
      ]);
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError([
        {
          variable: 'AUDIT_SIGNING_KEY_FILE',
          message: `${name} (${source}) must be an Ed25519 key, not ${privateKey.asymmetricKeyType ?? 'unknown'}`,
        },
      ]);
    }
    const publicKey = createPublicKey(privateKey);
    return new AuditSigner(
      privateKey,
      publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      keyIdOf(publicKey),
      source,
    );
  }

  sign(payload: string): Buffer {
    return sign(null, Buffer.from(payload, 'utf8'), this.privateKey);
  }

  /** Checks an Ed25519 signature against a PEM public key; any malformed input is simply invalid. */
  static verify(publicKeyPem: string, payload: string, signature: Buffer): boolean {
    try {
      return verify(null, Buffer.from(payload, 'utf8'), createPublicKey(publicKeyPem), signature);
    } catch {
      return false;
    }
  }
}

export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}

function warnIfReadableByOthers(file: string, name: string, logger: SignerLogger): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    logger.warn(`${name} (${file}) is readable by other users (mode ${mode.toString(8)}); use mode 0600`);
  }
}
