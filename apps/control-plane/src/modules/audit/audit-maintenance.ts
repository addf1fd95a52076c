/**
 * Operator work on the audit trail, as the database owner rather than the app role: verifying every
 * organization's chains, signing checkpoints, and the retention purge, which removes entries older than
 * retention only up to a signed checkpoint, and records itself in the chain so verification still passes.
 */
import { DataSource, type EntityManager } from 'typeorm';
import type { AppConfig } from '../../config/app-config.js';
import { migrationDataSource, type DatabaseTarget } from '../../database/data-source.js';
import type { AuditActor } from './audit-event.js';
import { AuditSigner } from './audit-signer.js';
import { clipText, toAuditJson } from './audit-values.util.js';
import {
  AuditVerifier,
  type ChainBreak,
  type ReadRunner,
  type VerificationReport,
} from './audit-verifier.js';
import { AuditWriter } from './audit-writer.js';
import { AuditRepository, type ChainSummary, type StoredCheckpoint } from './audit.repository.js';

export interface PurgeOptions {
  retentionYears: number;
  /** Only this tenant's chain (default: every chain in the database). */
  tenantId?: string;
  /** The clock the cutoff is taken from (tests move it forward). */
  now?: Date;
  dryRun?: boolean;
  actor: AuditActor;
}

export interface PurgeChainResult {
  chainKey: string;
  organizationId: string;
  tenantId: string | null;
  outcome: 'purged' | 'would_purge' | 'nothing_to_purge' | 'refused_broken';
  /** Entries up to and including this seq were (or would be) removed. */
  throughSeq?: number;
  removed?: number;
  firstBroken?: ChainBreak;
}

export interface PurgeReport {
  cutoff: string;
  retentionYears: number;
  dryRun: boolean;
  chains: PurgeChainResult[];
}

interface Logger {
  warn(message: string): void;
}

export class AuditMaintenance {
  private readonly repository = new AuditRepository();
  private readonly writer: AuditWriter;

  private constructor(
    private readonly dataSource: DataSource,
    private readonly signer: AuditSigner,
    checkpointEvery: number,
  ) {
    this.writer = new AuditWriter(this.repository, signer, checkpointEvery);
  }

  /** Connects as the owner (the role of DATABASE_URL, which migrates) and registers the signing key. */
  static async open(target: DatabaseTarget, config: AppConfig, logger: Logger): Promise<AuditMaintenance> {
    const signer = AuditSigner.load(config, logger);
    const dataSource = migrationDataSource(target);
    await dataSource.initialize();
    const maintenance = new AuditMaintenance(dataSource, signer, config.AUDIT_CHECKPOINT_EVERY);
    try {
      await dataSource.transaction((db) =>
        maintenance.repository.registerSigningKey(db, signer.keyId, signer.publicKeyPem),
      );
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return maintenance;
  }

  close(): Promise<void> {
    return this.dataSource.destroy();
  }

  /** Verifies every chain in the database, or one tenant's. */
  async verify(tenantId?: string): Promise<VerificationReport> {
    const run: ReadRunner = (work) => this.dataSource.transaction((db) => work(db));
    const summaries = await run((db) => this.repository.chainSummaries(db, tenantId ? [tenantId] : 'all'));
    return new AuditVerifier(this.repository, run).verify(summaries);
  }

  /** Signs the head of every chain (or one tenant's), each in a transaction of its own. */
  async checkpoint(tenantId?: string): Promise<StoredCheckpoint[]> {
    const summaries = await this.dataSource.transaction((db) =>
      this.repository.chainSummaries(db, tenantId ? [tenantId] : 'all'),
    );
    const created: StoredCheckpoint[] = [];
    for (const chain of summaries) {
      const checkpoint = await this.dataSource.transaction((db) => this.writer.checkpointHead(db, chain));
      if (checkpoint) created.push(checkpoint);
    }
    return created;
  }

  async purge(options: PurgeOptions): Promise<PurgeReport> {
    const cutoff = yearsBefore(options.now ?? new Date(), options.retentionYears);
    const chainKeys = await this.dataSource.transaction((db) =>
      this.repository.chainsWithEntriesBefore(db, cutoff, options.tenantId),
    );
    const chains: PurgeChainResult[] = [];
    for (const chainKey of chainKeys) {
      chains.push(await this.dataSource.transaction((db) => this.purgeChain(db, chainKey, cutoff, options)));
    }
    return {
      cutoff: cutoff.toISOString(),
      retentionYears: options.retentionYears,
      dryRun: options.dryRun === true,
      chains,
    };
  }

  /**
   * One chain, in one transaction holding the chain's lock: verify it (a broken chain is never cut, and
   * never signed over), sign its state at the last entry older than the cutoff, record the purge in the
   * chain, then delete through that checkpoint. The chain then starts right after a signed checkpoint
   * that a hashed `audit.purge` entry names, which verification accepts.
   */
  private async purgeChain(
    db: EntityManager,
    chainKey: string,
    cutoff: Date,
    options: PurgeOptions,
  ): Promise<PurgeChainResult> {
    await this.repository.lockChain(db, chainKey);
    const [chain] = await this.repository.chainSummaries(db, [chainKey]);
    if (!chain) return { chainKey, organizationId: '', tenantId: null, outcome: 'nothing_to_purge' };
    const base = { chainKey, organizationId: chain.organizationId, tenantId: chain.tenantId };

    const keys = new Map((await this.repository.signingKeys(db)).map((key) => [key.keyId, key.publicKeyPem]));
    const report = await new AuditVerifier(this.repository, (work) => work(db)).verifyChain(chain, keys);
    if (!report.intact) return { ...base, outcome: 'refused_broken', firstBroken: report.firstBroken };

    const firstRecent = await this.repository.firstSeqSince(db, chainKey, cutoff);
    const throughSeq = firstRecent === null ? chain.lastSeq : firstRecent - 1;
    if (throughSeq < chain.firstSeq) return { ...base, outcome: 'nothing_to_purge' };
    const removable = throughSeq - chain.firstSeq + 1;
    if (options.dryRun) return { ...base, outcome: 'would_purge', throughSeq, removed: removable };

    const anchor = await this.anchorEntry(db, chain, throughSeq);
    await this.writer.sign(db, chain, throughSeq, anchor);
    await this.writer.append(db, chain, {
      actor: {
        kind: options.actor.kind,
        id: clipText(options.actor.id, 200),
        display: clipText(options.actor.display ?? null, 300),
        credential: clipText(options.actor.credential ?? null, 300),
      },
      action: 'audit.purge',
      target: null,
      source: { ip: null, userAgent: null },
      before: null,
      after: null,
      details: toAuditJson({
        throughSeq,
        removed: removable,
        cutoff: cutoff.toISOString(),
        retentionYears: options.retentionYears,
        anchorHash: anchor.toString('hex'),
      }),
    });
    const removed = await this.repository.deleteThrough(db, chainKey, throughSeq);
    return { ...base, outcome: 'purged', throughSeq, removed };
  }

  private async anchorEntry(db: EntityManager, chain: ChainSummary, seq: number): Promise<Buffer> {
    const [entry] = await this.repository.chainEntries(db, chain.chainKey, seq - 1, seq, 1);
    if (!entry) throw new Error(`audit chain ${chain.chainKey} has no entry ${seq} to anchor a purge at`);
    return entry.hash;
  }
}

/** The same calendar instant `years` earlier (UTC). */
export function yearsBefore(now: Date, years: number): Date {
  const cutoff = new Date(now.getTime());
  cutoff.setUTCFullYear(cutoff.getUTCFullYear() - years);
  return cutoff;
}
