/**
 * The deployment's Ed25519 work-order signing key: created once (the first replica to get there wins, the
 * others read it), its private key sealed like the CA keys, and its public key handed to every agent as
 * `workOrderKeys` in a new version of its desired config.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { workOrderKeyOf, type WorkOrderKey } from '@medfleet/contracts';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb } from '../../database/tenant-db.js';
import { KeySealer } from '../pki/key-sealer.js';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: WorkOrderKey;
}

interface KeyRow {
  key_id: string;
  public_key: string;
  private_key_sealed: string;
}

@Injectable()
export class WorkOrderKeyService implements OnApplicationBootstrap {
  private readonly logger = new Logger(WorkOrderKeyService.name);
  private readonly sealer: KeySealer;
  private current: Promise<SigningKey> | null = null;

  constructor(
    private readonly tenantDb: TenantDb,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.sealer = KeySealer.fromConfig(config.PKI_KEY_ENCRYPTION_KEY, config.DATA_DIR);
  }

  /**
   * Made at start, so that no request (a refused one included) creates it as a side effect, and a key that cannot
   * be unsealed (another PKI_KEY_ENCRYPTION_KEY) stops the start with a message that says so.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.signingKey();
  }

  /** The key work orders are signed with: the active one. */
  signingKey(): Promise<SigningKey> {
    this.current ??= this.loadOrCreate().catch((error: unknown) => {
      this.current = null;
      throw error;
    });
    return this.current;
  }

  private async loadOrCreate(): Promise<SigningKey> {
    const existing = await this.select();
    if (existing) return this.open(existing);
    const pair = generateKeyPairSync('ed25519');
    const keyId = `wo-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
    const publicKey = workOrderKeyOf(keyId, pair.publicKey);
    const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    // Two replicas starting together may both try: the unique index on the active key lets one win.
    await this.tenantDb.unscoped((db) =>
      db.query(
        `INSERT INTO work_order_keys (key_id, public_key, private_key_sealed) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [keyId, publicKey.publicKey, this.sealer.seal(pem)],
      ),
    );
    const stored = await this.select();
    if (!stored) throw new Error('the work-order key could not be stored');
    this.logger.log({ msg: 'work-order signing key ready', keyId: stored.key_id });
    return this.open(stored);
  }

  private async select(): Promise<KeyRow | null> {
    const rows = (await this.tenantDb.unscoped((db) =>
      db.query(`SELECT key_id, public_key, private_key_sealed FROM work_order_keys WHERE active`),
    )) as KeyRow[];
    return rows[0] ?? null;
  }

  private open(row: KeyRow): SigningKey {
    const privateKey = createPrivateKey(this.sealer.open(row.private_key_sealed));
    return {
      keyId: row.key_id,
      privateKey,
      publicKey: { keyId: row.key_id, algorithm: 'Ed25519', publicKey: row.public_key },
    };
  }
}
