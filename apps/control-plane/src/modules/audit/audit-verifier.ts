/**
 * Walks audit chains and proves them intact, or names the first broken entry: recomputes every hash,
 * checks seq continuity and the links between entries, and checks every checkpoint's signature and that
 * the entry it signed is still the same. Reads in short batches, each in a transaction of its own.
 */
import type { EntityManager } from 'typeorm';
import { GENESIS_HASH, HASH_VERSION, checkpointPayload, entryHash } from './audit-hash.util.js';
import type { AuditRepository, ChainSummary, StoredCheckpoint } from './audit.repository.js';
import { AuditSigner } from './audit-signer.js';

export type BreakProblem = 'edited' | 'deleted' | 'reordered' | 'bad_checkpoint';

export interface ChainBreak {
  /** The first seq at which the chain is not what was written. */
  seq: number;
  /** The entry found at that seq; null when it is missing or the problem is its checkpoint. */
  id: string | null;
  problem: BreakProblem;
  detail: string;
}

export interface ChainReport {
  chainKey: string;
  organizationId: string;
  tenantId: string | null;
  entries: number;
  firstSeq: number;
  lastSeq: number;
  /** The signed checkpoint the chain starts from after a retention purge; 0 when it starts at genesis. */
  anchoredAtSeq: number;
  checkpoints: number;
  intact: boolean;
  firstBroken?: ChainBreak;
}

export interface VerificationReport {
  intact: boolean;
  verifiedAt: string;
  chains: ChainReport[];
}

/** Runs a unit of reading in a transaction (the app role's scoped one, or the owner's). */
export type ReadRunner = <T>(work: (db: EntityManager) => Promise<T>) => Promise<T>;

const BATCH = 1000;

export class AuditVerifier {
  constructor(
    private readonly repository: AuditRepository,
    private readonly run: ReadRunner,
  ) {}

  async verify(chains: ChainSummary[]): Promise<VerificationReport> {
    const keys = new Map(
      (await this.run((db) => this.repository.signingKeys(db))).map((key) => [key.keyId, key.publicKeyPem]),
    );
    const reports: ChainReport[] = [];
    for (const chain of chains) reports.push(await this.verifyChain(chain, keys));
    return {
      intact: reports.every((report) => report.intact),
      verifiedAt: new Date().toISOString(),
      chains: reports,
    };
  }

  async verifyChain(chain: ChainSummary, keys: ReadonlyMap<string, string>): Promise<ChainReport> {
    const { chainKey } = chain;
    const breaks: ChainBreak[] = [];
    const checkpoints = await this.run((db) => this.repository.checkpoints(db, chainKey));
    const signed = new Map<number, StoredCheckpoint>();
    for (const checkpoint of checkpoints) {
      const publicKey = keys.get(checkpoint.keyId);
      if (publicKey && AuditSigner.verify(publicKey, checkpointPayload(checkpoint), checkpoint.signature)) {
        signed.set(checkpoint.seq, checkpoint);
      } else {
        breaks.push({
          seq: checkpoint.seq,
          id: null,
          problem: 'bad_checkpoint',
          detail: publicKey
            ? `the checkpoint at seq ${checkpoint.seq} does not carry a valid signature`
            : `the checkpoint at seq ${checkpoint.seq} is signed by unknown key ${checkpoint.keyId}`,
        });
      }
    }

    const walk = await this.walk(chain, signed);
    if (walk.broken) breaks.push(walk.broken);
    const firstBroken = breaks.sort((a, b) => a.seq - b.seq)[0];
    return {
      chainKey,
      organizationId: chain.organizationId,
      tenantId: chain.tenantId,
      entries: chain.entries,
      firstSeq: chain.firstSeq,
      lastSeq: chain.lastSeq,
      anchoredAtSeq: walk.anchoredAtSeq,
      checkpoints: checkpoints.length,
      intact: firstBroken === undefined,
      ...(firstBroken ? { firstBroken } : {}),
    };
  }

  private async walk(
    chain: ChainSummary,
    signed: ReadonlyMap<number, StoredCheckpoint>,
  ): Promise<{ anchoredAtSeq: number; broken?: ChainBreak }> {
    const { chainKey } = chain;
    let expectedSeq = 1;
    let expectedPrev: Buffer = GENESIS_HASH;
    let previousId: string | null = null;

    // A chain that does not start at seq 1 must start right after a signed checkpoint that a recorded
    // retention purge cut at; anything else is a deletion of its first entries.
    if (chain.firstSeq > 1) {
      const anchor = signed.get(chain.firstSeq - 1);
      const purges = await this.run((db) => this.repository.purgedThrough(db, chainKey));
      if (!anchor || !purges.some((through) => through >= chain.firstSeq - 1)) {
        const coveredUpTo = [...signed.keys()]
          .filter((seq) => seq < chain.firstSeq && purges.some((through) => through >= seq))
          .reduce((max, seq) => Math.max(max, seq), 0);
        return {
          anchoredAtSeq: 0,
          broken: {
            seq: coveredUpTo + 1,
            id: null,
            problem: 'deleted',
            detail: `entries ${coveredUpTo + 1}..${chain.firstSeq - 1} are missing, and no signed checkpoint with a recorded purge covers them`,
          },
        };
      }
      expectedSeq = chain.firstSeq;
      expectedPrev = anchor.hash;
    }
    const anchoredAtSeq = expectedSeq - 1;

    for (let after = expectedSeq - 1; ;) {
      const batch = await this.run((db) =>
        this.repository.chainEntries(db, chainKey, after, Number.MAX_SAFE_INTEGER, BATCH),
      );
      for (const entry of batch) {
        if (entry.seq !== expectedSeq) {
          return {
            anchoredAtSeq,
            broken: {
              seq: expectedSeq,
              id: null,
              problem: 'deleted',
              detail: `entry ${expectedSeq} is missing: entry ${entry.seq} follows entry ${expectedSeq - 1}`,
            },
          };
        }
        const selfConsistent =
          entry.hashVersion === HASH_VERSION && entryHash(entry, entry.prevHash).equals(entry.hash);
        const linked = entry.prevHash.equals(expectedPrev);
        if (!selfConsistent || !linked) {
          const elsewhere = linked
            ? []
            : (await this.run((db) => this.repository.seqsWithHash(db, chainKey, entry.prevHash))).filter(
                (seq) => seq !== entry.seq - 1,
              );
          if (elsewhere.length > 0) {
            return {
              anchoredAtSeq,
              broken: {
                seq: entry.seq,
                id: entry.id,
                problem: 'reordered',
                detail: `entry ${entry.id} at seq ${entry.seq} was written after the entry now at seq ${elsewhere[0]}`,
              },
            };
          }
          if (!selfConsistent) {
            return {
              anchoredAtSeq,
              broken: {
                seq: entry.seq,
                id: entry.id,
                problem: 'edited',
                detail: `the content of entry ${entry.seq} no longer matches its hash`,
              },
            };
          }
          // Consistent in itself but not with its predecessor: the predecessor was rewritten (hash and all).
          const rewritten = previousId !== null;
          return {
            anchoredAtSeq,
            broken: {
              seq: rewritten ? expectedSeq - 1 : entry.seq,
              id: rewritten ? previousId : entry.id,
              problem: 'edited',
              detail: rewritten
                ? `entry ${expectedSeq - 1} is not the entry that entry ${entry.seq} was chained to`
                : `entry ${entry.seq} is not chained to its signed anchor`,
            },
          };
        }
        const checkpoint = signed.get(entry.seq);
        if (checkpoint && !checkpoint.hash.equals(entry.hash)) {
          return {
            anchoredAtSeq,
            broken: {
              seq: entry.seq,
              id: entry.id,
              problem: 'edited',
              detail: `entry ${entry.seq} differs from the one its signed checkpoint covers`,
            },
          };
        }
        expectedSeq += 1;
        expectedPrev = entry.hash;
        previousId = entry.id;
      }
      if (batch.length < BATCH) break;
      after = expectedSeq - 1;
    }

    const lastSigned = [...signed.keys()].reduce((max, seq) => Math.max(max, seq), 0);
    if (lastSigned >= expectedSeq) {
      return {
        anchoredAtSeq,
        broken: {
          seq: expectedSeq,
          id: null,
          problem: 'deleted',
          detail: `the chain ends at seq ${expectedSeq - 1}, but a signed checkpoint covers seq ${lastSigned}`,
        },
      };
    }
    return { anchoredAtSeq };
  }
}
