/**
 * The only SQL of the audit trail. Every method takes the transaction's EntityManager: the app role's
 * tenant-scoped transaction for the application, the owner's for verification and purge tooling.
 */
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { GENESIS_HASH, type HashedEntry, type JsonValue } from './audit-hash.util.js';

export interface StoredAuditEntry extends HashedEntry {
  hashVersion: number;
  prevHash: Buffer;
  hash: Buffer;
}

export interface StoredCheckpoint {
  chainKey: string;
  seq: number;
  hash: Buffer;
  organizationId: string;
  tenantId: string | null;
  createdAt: Date;
  keyId: string;
  signature: Buffer;
}

export interface ChainHead {
  seq: number;
  hash: Buffer;
}

export interface ChainSummary {
  chainKey: string;
  organizationId: string;
  tenantId: string | null;
  entries: number;
  firstSeq: number;
  lastSeq: number;
}

export interface SigningKeyRecord {
  keyId: string;
  algorithm: string;
  publicKeyPem: string;
  registeredAt: Date;
}

export interface EntryFilter {
  chainKeys: readonly string[];
  action?: { exact: string } | { prefix: string };
  actor?: { kind: string; id?: string };
  from?: Date;
  to?: Date;
  /** Keyset position: entries strictly older than this (the list runs newest first). */
  before?: { occurredAt: Date; id: string };
  limit: number;
}

interface EntryRow {
  chain_key: string;
  seq: string;
  id: string;
  hash_version: number;
  occurred_at: Date;
  organization_id: string;
  tenant_id: string | null;
  actor_kind: string;
  actor_id: string | null;
  actor_display: string | null;
  actor_credential: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  source_ip: string | null;
  user_agent: string | null;
  before: JsonValue;
  after: JsonValue;
  details: JsonValue;
  prev_hash: Buffer;
  hash: Buffer;
}

interface CheckpointRow {
  chain_key: string;
  seq: string;
  hash: Buffer;
  organization_id: string;
  tenant_id: string | null;
  created_at: Date;
  key_id: string;
  signature: Buffer;
}

const ENTRY_COLUMNS = `chain_key, seq, id, hash_version, occurred_at, organization_id, tenant_id, actor_kind,
  actor_id, actor_display, actor_credential, action, target_type, target_id, source_ip, user_agent, before,
  after, details, prev_hash, hash`;

const CHECKPOINT_COLUMNS = `chain_key, seq, hash, organization_id, tenant_id, created_at, key_id, signature`;

@Injectable()
export class AuditRepository {
  /**
   * Serializes appends to one chain until the transaction ends. Taken before reading the head, so two
   * transactions never both append after the same entry (READ COMMITTED: the next statement sees the
   * head the previous holder committed).
   */
  async lockChain(db: EntityManager, chainKey: string): Promise<void> {
    await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`medfleet:audit:${chainKey}`]);
  }

  /** The last entry of a chain; after a purge that removed everything, its anchor checkpoint; else genesis. */
  async head(db: EntityManager, chainKey: string): Promise<ChainHead> {
    const rows = (await db.query(
      `(SELECT seq, hash FROM audit_entries WHERE chain_key = $1 ORDER BY seq DESC LIMIT 1)
       UNION ALL
       (SELECT seq, hash FROM audit_checkpoints WHERE chain_key = $1 ORDER BY seq DESC LIMIT 1)`,
      [chainKey],
    )) as { seq: string; hash: Buffer }[];
    const latest = rows
      .map((row) => ({ seq: Number(row.seq), hash: row.hash }))
      .sort((a, b) => b.seq - a.seq)[0];
    return latest ?? { seq: 0, hash: GENESIS_HASH };
  }

  async insertEntry(db: EntityManager, entry: StoredAuditEntry): Promise<void> {
    await db.query(
      `INSERT INTO audit_entries (${ENTRY_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
               $17::jsonb, $18::jsonb, $19::jsonb, $20, $21)`,
      [
        entry.chainKey,
        entry.seq,
        entry.id,
        entry.hashVersion,
        entry.occurredAt,
        entry.organizationId,
        entry.tenantId,
        entry.actor.kind,
        entry.actor.id,
        entry.actor.display,
        entry.actor.credential,
        entry.action,
        entry.target?.type ?? null,
        entry.target?.id ?? null,
        entry.source.ip,
        entry.source.userAgent,
        jsonParam(entry.before),
        jsonParam(entry.after),
        jsonParam(entry.details),
        entry.prevHash,
        entry.hash,
      ],
    );
  }

  async insertCheckpoint(db: EntityManager, checkpoint: StoredCheckpoint): Promise<void> {
    await db.query(
      `INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (chain_key, seq) DO NOTHING`,
      [
        checkpoint.chainKey,
        checkpoint.seq,
        checkpoint.hash,
        checkpoint.organizationId,
        checkpoint.tenantId,
        checkpoint.createdAt,
        checkpoint.keyId,
        checkpoint.signature,
      ],
    );
  }

  async tenantOrganization(db: EntityManager, tenantId: string): Promise<string | null> {
    const rows = (await db.query(`SELECT organization_id FROM tenants WHERE id = $1`, [tenantId])) as {
      organization_id: string;
    }[];
    return rows[0]?.organization_id ?? null;
  }

  async apiKeyName(db: EntityManager, keyId: string): Promise<string | null> {
    const rows = (await db.query(`SELECT name FROM org_api_keys WHERE id = $1`, [keyId])) as {
      name: string;
    }[];
    return rows[0]?.name ?? null;
  }

  async registerSigningKey(db: EntityManager, keyId: string, publicKeyPem: string): Promise<void> {
    await db.query(
      `INSERT INTO audit_signing_keys (key_id, algorithm, public_key_pem) VALUES ($1, 'Ed25519', $2)
       ON CONFLICT (key_id) DO NOTHING`,
      [keyId, publicKeyPem],
    );
  }

  async signingKeys(db: EntityManager): Promise<SigningKeyRecord[]> {
    const rows = (await db.query(
      `SELECT key_id, algorithm, public_key_pem, registered_at FROM audit_signing_keys ORDER BY registered_at, key_id`,
    )) as { key_id: string; algorithm: string; public_key_pem: string; registered_at: Date }[];
    return rows.map((row) => ({
      keyId: row.key_id,
      algorithm: row.algorithm,
      publicKeyPem: row.public_key_pem,
      registeredAt: row.registered_at,
    }));
  }

  /** Entries newest first, filtered; `limit + 1` rows so the caller can tell whether a next page exists. */
  async listEntries(db: EntityManager, filter: EntryFilter): Promise<StoredAuditEntry[]> {
    const params: unknown[] = [filter.chainKeys];
    const where = ['chain_key = ANY($1::uuid[])'];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.action && 'exact' in filter.action) where.push(`action = ${param(filter.action.exact)}`);
    if (filter.action && 'prefix' in filter.action) {
      where.push(`starts_with(action, ${param(filter.action.prefix)})`);
    }
    if (filter.actor) {
      where.push(`actor_kind = ${param(filter.actor.kind)}`);
      if (filter.actor.id !== undefined) where.push(`actor_id = ${param(filter.actor.id)}`);
    }
    if (filter.from) where.push(`occurred_at >= ${param(filter.from)}`);
    if (filter.to) where.push(`occurred_at < ${param(filter.to)}`);
    if (filter.before) {
      where.push(
        `(occurred_at, id) < (${param(filter.before.occurredAt)}, ${param(filter.before.id)}::uuid)`,
      );
    }
    const rows = (await db.query(
      `SELECT ${ENTRY_COLUMNS} FROM audit_entries WHERE ${where.join(' AND ')}
        ORDER BY occurred_at DESC, id DESC LIMIT ${param(filter.limit + 1)}`,
      params,
    )) as EntryRow[];
    return rows.map(toEntry);
  }

  /** The chains among `chainKeys` that hold entries, with their extent. */
  async chainSummaries(db: EntityManager, chainKeys: readonly string[] | 'all'): Promise<ChainSummary[]> {
    const rows = (await db.query(
      `SELECT chain_key, min(organization_id::text) AS organization_id, min(tenant_id::text) AS tenant_id,
              count(*)::bigint AS entries, min(seq) AS first_seq, max(seq) AS last_seq
         FROM audit_entries
        WHERE $1::uuid[] IS NULL OR chain_key = ANY($1::uuid[])
        GROUP BY chain_key ORDER BY chain_key`,
      [chainKeys === 'all' ? null : chainKeys],
    )) as {
      chain_key: string;
      organization_id: string;
      tenant_id: string | null;
      entries: string;
      first_seq: string;
      last_seq: string;
    }[];
    return rows.map((row) => ({
      chainKey: row.chain_key,
      organizationId: row.organization_id,
      tenantId: row.tenant_id,
      entries: Number(row.entries),
      firstSeq: Number(row.first_seq),
      lastSeq: Number(row.last_seq),
    }));
  }

  /** Entries of one chain in seq order, after `afterSeq` and up to `throughSeq`. */
  async chainEntries(
    db: EntityManager,
    chainKey: string,
    afterSeq: number,
    throughSeq: number,
    limit: number,
    window: { from?: Date; to?: Date } = {},
  ): Promise<StoredAuditEntry[]> {
    const rows = (await db.query(
      `SELECT ${ENTRY_COLUMNS} FROM audit_entries
        WHERE chain_key = $1 AND seq > $2 AND seq <= $3
          AND ($4::timestamptz IS NULL OR occurred_at >= $4) AND ($5::timestamptz IS NULL OR occurred_at < $5)
        ORDER BY seq LIMIT $6`,
      [chainKey, afterSeq, throughSeq, window.from ?? null, window.to ?? null, limit],
    )) as EntryRow[];
    return rows.map(toEntry);
  }

  async checkpoints(db: EntityManager, chainKey: string): Promise<StoredCheckpoint[]> {
    const rows = (await db.query(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_key = $1 ORDER BY seq`,
      [chainKey],
    )) as CheckpointRow[];
    return rows.map(toCheckpoint);
  }

  async checkpointAt(db: EntityManager, chainKey: string, seq: number): Promise<StoredCheckpoint | null> {
    const rows = (await db.query(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_key = $1 AND seq = $2`,
      [chainKey, seq],
    )) as CheckpointRow[];
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  /** Checkpoints of the given chains, by chain then seq, after a keyset position. */
  async listCheckpoints(
    db: EntityManager,
    chainKeys: readonly string[],
    after: { chainKey: string; seq: number } | null,
    limit: number,
  ): Promise<StoredCheckpoint[]> {
    const rows = (await db.query(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints
        WHERE chain_key = ANY($1::uuid[]) AND ($2::uuid IS NULL OR (chain_key, seq) > ($2::uuid, $3::bigint))
        ORDER BY chain_key, seq LIMIT $4`,
      [chainKeys, after?.chainKey ?? null, after?.seq ?? 0, limit + 1],
    )) as CheckpointRow[];
    return rows.map(toCheckpoint);
  }

  async seqsWithHash(db: EntityManager, chainKey: string, hash: Buffer): Promise<number[]> {
    const rows = (await db.query(`SELECT seq FROM audit_entries WHERE chain_key = $1 AND hash = $2`, [
      chainKey,
      hash,
    ])) as { seq: string }[];
    return rows.map((row) => Number(row.seq));
  }

  /** The `throughSeq` of every retention purge recorded in the chain (the purge entries are hashed too). */
  async purgedThrough(db: EntityManager, chainKey: string): Promise<number[]> {
    const rows = (await db.query(
      `SELECT details->>'throughSeq' AS through_seq FROM audit_entries
        WHERE chain_key = $1 AND action = 'audit.purge'`,
      [chainKey],
    )) as { through_seq: string | null }[];
    return rows.map((row) => Number(row.through_seq)).filter((seq) => Number.isInteger(seq));
  }

  /** The lowest seq at or after `cutoff`, or null when every entry of the chain is older. */
  async firstSeqSince(db: EntityManager, chainKey: string, cutoff: Date): Promise<number | null> {
    const rows = (await db.query(
      `SELECT min(seq) AS seq FROM audit_entries WHERE chain_key = $1 AND occurred_at >= $2`,
      [chainKey, cutoff],
    )) as { seq: string | null }[];
    const seq = rows[0]?.seq;
    return seq === null || seq === undefined ? null : Number(seq);
  }

  /** Chains (all, or the one given) holding entries older than `cutoff` (owner: every organization's). */
  async chainsWithEntriesBefore(db: EntityManager, cutoff: Date, chainKey?: string): Promise<string[]> {
    const rows = (await db.query(
      `SELECT DISTINCT chain_key FROM audit_entries
        WHERE occurred_at < $1 AND ($2::uuid IS NULL OR chain_key = $2::uuid) ORDER BY chain_key`,
      [cutoff, chainKey ?? null],
    )) as { chain_key: string }[];
    return rows.map((row) => row.chain_key);
  }

  /** Deletes a chain's entries through `throughSeq`; needs the owner and the purge flag of this transaction. */
  async deleteThrough(db: EntityManager, chainKey: string, throughSeq: number): Promise<number> {
    await db.query(`SELECT set_config('medfleet.audit_purge', 'on', true)`);
    const rows = (await db.query(
      `WITH gone AS (DELETE FROM audit_entries WHERE chain_key = $1 AND seq <= $2 RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [chainKey, throughSeq],
    )) as { n: number }[];
    // On failure the transaction is aborted and rolls back, flag included.
    await db.query(`SELECT set_config('medfleet.audit_purge', 'off', true)`);
    return rows[0]?.n ?? 0;
  }
}

function jsonParam(value: JsonValue): string | null {
  return value === null ? null : JSON.stringify(value);
}

function toEntry(row: EntryRow): StoredAuditEntry {
  return {
    chainKey: row.chain_key,
    seq: Number(row.seq),
    id: row.id,
    hashVersion: row.hash_version,
    occurredAt: row.occurred_at,
    organizationId: row.organization_id,
    tenantId: row.tenant_id,
    actor: {
      kind: row.actor_kind,
      id: row.actor_id,
      display: row.actor_display,
      credential: row.actor_credential,
    },
    action: row.action,
    target:
      row.target_type !== null && row.target_id !== null
        ? { type: row.target_type, id: row.target_id }
        : null,
    source: { ip: row.source_ip, userAgent: row.user_agent },
    before: row.before,
    after: row.after,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return {
    chainKey: row.chain_key,
    seq: Number(row.seq),
    hash: row.hash,
    organizationId: row.organization_id,
    tenantId: row.tenant_id,
    createdAt: row.created_at,
    keyId: row.key_id,
    signature: row.signature,
  };
}
