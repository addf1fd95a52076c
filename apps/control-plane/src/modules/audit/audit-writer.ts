/**
 * Appends to an audit chain and signs checkpoints, inside the caller's transaction: the application's
 * tenant-scoped one (AuditService) or the owner's (retention purge).
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { HASH_VERSION, checkpointPayload, entryHash, type HashedEntry } from './audit-hash.util.js';
import type { AuditRepository, StoredAuditEntry, StoredCheckpoint } from './audit.repository.js';
import type { AuditSigner } from './audit-signer.js';

/** Which chain an entry goes to: the tenant's, or (tenantId null) the organization's. */
export interface ChainRef {
  chainKey: string;
  organizationId: string;
  tenantId: string | null;
}

export type EntryContent = Omit<
  HashedEntry,
  'chainKey' | 'organizationId' | 'tenantId' | 'seq' | 'id' | 'occurredAt'
>;

export class AuditWriter {
  constructor(
    private readonly repository: AuditRepository,
    private readonly signer: AuditSigner,
    /** A checkpoint is signed whenever a chain's seq reaches a multiple of this. */
    private readonly checkpointEvery: number,
  ) {}

  async append(db: EntityManager, chain: ChainRef, content: EntryContent): Promise<StoredAuditEntry> {
    await this.repository.lockChain(db, chain.chainKey);
    const head = await this.repository.head(db, chain.chainKey);
    const entry: HashedEntry = {
      ...content,
      chainKey: chain.chainKey,
      organizationId: chain.organizationId,
      tenantId: chain.tenantId,
      seq: head.seq + 1,
      id: randomUUID(),
      occurredAt: new Date(),
    };
    const stored: StoredAuditEntry = {
      ...entry,
      hashVersion: HASH_VERSION,
      prevHash: head.hash,
      hash: entryHash(entry, head.hash),
    };
    await this.repository.insertEntry(db, stored);
    if (stored.seq % this.checkpointEvery === 0) await this.sign(db, chain, stored.seq, stored.hash);
    return stored;
  }

  /** Signs the chain's current head, unless it is empty or already signed there. */
  async checkpointHead(db: EntityManager, chain: ChainRef): Promise<StoredCheckpoint | null> {
    await this.repository.lockChain(db, chain.chainKey);
    const head = await this.repository.head(db, chain.chainKey);
    return head.seq === 0 ? null : this.sign(db, chain, head.seq, head.hash);
  }

  /** Signs `hash` as the chain's state at `seq`; a seq signed already keeps (and answers) its checkpoint. */
  async sign(db: EntityManager, chain: ChainRef, seq: number, hash: Buffer): Promise<StoredCheckpoint> {
    const existing = await this.repository.checkpointAt(db, chain.chainKey, seq);
    if (existing) return existing;
    const fields = {
      chainKey: chain.chainKey,
      seq,
      hash,
      organizationId: chain.organizationId,
      tenantId: chain.tenantId,
      createdAt: new Date(),
      keyId: this.signer.keyId,
    };
    const checkpoint: StoredCheckpoint = {
      ...fields,
      signature: this.signer.sign(checkpointPayload(fields)),
    };
    await this.repository.insertCheckpoint(db, checkpoint);
    return checkpoint;
  }
}
