/**
 * The audit trail: records events inside the caller's transaction (so an action whose entry cannot be
 * written does not happen), and lets principals read, export and verify the chains in their scope.
 */
import { Readable } from 'node:stream';
import { HttpStatus, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../../common/auth/principal.js';
import { AppException, ErrorCode } from '../../common/errors/app-exception.js';
import type { Page } from '../../common/pagination.js';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { TenantDb, type TenantScope, type TenantTx } from '../../database/tenant-db.js';
import { AuditRequestContext, MAX_USER_AGENT, normalizeIp } from './audit-context.js';
import {
  principalActor,
  type AuditAction,
  type AuditActor,
  type AuditEvent,
  type RecordedAuditEntry,
} from './audit-event.js';
import type { AuditActorFields } from './audit-hash.util.js';
import { AuditSigner, SIGNING_ALGORITHM } from './audit-signer.js';
import { clipText, toAuditJson } from './audit-values.util.js';
import { AuditVerifier, type VerificationReport } from './audit-verifier.js';
import {
  CSV_HEADER,
  checkpointView,
  csvRow,
  entryView,
  jsonLine,
  type AuditEntryView,
  type CheckpointView,
} from './audit-view.js';
import { AuditWriter, type ChainRef } from './audit-writer.js';
import { AuditRepository, type EntryFilter } from './audit.repository.js';
import type {
  ExportAuditQuery,
  ExportFormat,
  ListAuditEntriesQuery,
  ListCheckpointsQuery,
} from './audit.dto.js';

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const ACTOR_KIND = /^[a-z][a-z_]{0,31}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EXPORT_BATCH = 500;

/** Looks up a label for an actor (an API key's name, a user's e-mail) in the recording transaction. */
export type ActorDisplayResolver = (db: EntityManager, id: string) => Promise<string | null>;

export interface AuditExport {
  contentType: string;
  filename: string;
  stream: Readable;
}

export interface SigningKeysView {
  algorithm: typeof SIGNING_ALGORITHM;
  /** The key signing new checkpoints. */
  keyId: string;
  publicKeyPem: string;
  /** Every key that has signed checkpoints in this database, current one included. */
  keys: { keyId: string; algorithm: string; publicKeyPem: string; registeredAt: string }[];
}

@Injectable()
export class AuditService implements OnModuleInit {
  private readonly writer: AuditWriter;
  private readonly displayResolvers = new Map<string, ActorDisplayResolver>();
  /** Tenants never change organization; the mapping is looked up once per tenant. */
  private readonly tenantOrganizations = new Map<string, string>();
  private readonly apiKeyNames = new Map<string, string>();

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly repository: AuditRepository,
    private readonly signer: AuditSigner,
    private readonly context: AuditRequestContext,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.writer = new AuditWriter(repository, signer, config.AUDIT_CHECKPOINT_EVERY);
    // API key names cannot change (the app role may not update them), so they are cached.
    this.registerActorDisplay('api_key', async (db, id) => {
      const cached = this.apiKeyNames.get(id);
      if (cached !== undefined) return cached;
      const name = await this.repository.apiKeyName(db, id);
      if (name !== null) this.apiKeyNames.set(id, name);
      return name;
    });
  }

  async onModuleInit(): Promise<void> {
    await this.tenantDb.unscoped((db) =>
      this.repository.registerSigningKey(db, this.signer.keyId, this.signer.publicKeyPem),
    );
  }

  /** Lets another module label its actors (the identity module: users by e-mail). */
  registerActorDisplay(kind: string, resolver: ActorDisplayResolver): void {
    this.displayResolvers.set(kind, resolver);
  }

  /**
   * Appends an entry to the event's chain inside the caller's transaction. Call it after the change it
   * records (it holds the chain's lock until the transaction ends); a failure here fails the transaction.
   */
  async record(tx: TenantTx, event: AuditEvent): Promise<RecordedAuditEntry> {
    if (!ACTION.test(event.action) || event.action.length > 100) {
      throw new Error(`audit action ${JSON.stringify(event.action)} is not of the form resource.verb`);
    }
    const chain = await this.chainFor(tx, event);
    const current = this.context.current();
    const stored = await this.writer.append(tx.db, chain, {
      actor: await this.actorFields(tx.db, event.actor),
      action: event.action,
      target: event.target
        ? { type: clipText(event.target.type, 64) ?? '?', id: clipText(event.target.id, 200) ?? '?' }
        : null,
      source: {
        ip: normalizeIp(event.source?.ip !== undefined ? event.source.ip : current.ip),
        userAgent: clipText(
          event.source?.userAgent !== undefined ? event.source.userAgent : current.userAgent,
          MAX_USER_AGENT,
        ),
      },
      before: toAuditJson(event.before),
      after: toAuditJson(event.after),
      details: toAuditJson(event.details),
    });
    return {
      id: stored.id,
      chainKey: stored.chainKey,
      seq: stored.seq,
      occurredAt: stored.occurredAt,
      hash: stored.hash.toString('hex'),
    };
  }

  /** Records an event that has no transaction of its own to join (a failed sign-in, a refused enrollment). */
  recordStandalone(scope: TenantScope, event: AuditEvent): Promise<RecordedAuditEntry> {
    return this.tenantDb.run(scope, (tx) => this.record(tx, event));
  }

  /** Entries newest first, with filters; the read itself is recorded (one entry per request). */
  list(auth: Principal, query: ListAuditEntriesQuery): Promise<Page<AuditEntryView>> {
    const limit = query.limit ?? 100;
    const before = decodeAuditCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const filter: EntryFilter = {
        chainKeys: this.selectChains(tx, query.tenantId),
        action: parseActionFilter(query.action),
        actor: parseActorFilter(query.actor),
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
        before: before ?? undefined,
        limit,
      };
      const rows = await this.repository.listEntries(tx.db, filter);
      const items = rows.slice(0, limit);
      await this.recordAccess(tx, auth, 'audit.read', query.tenantId, {
        filters: pick(query, ['tenantId', 'action', 'actor', 'from', 'to', 'cursor', 'limit']),
        returned: items.length,
      });
      const last = items[items.length - 1];
      return {
        items: items.map(entryView),
        nextCursor: rows.length > limit && last ? encodeAuditCursor(last.occurredAt, last.id) : null,
      };
    });
  }

  /**
   * Exports the entries in scope as JSON lines or CSV, chain by chain in seq order. The export is recorded
   * first (and is part of what it exports); the rows are then streamed in short transactions, up to each
   * chain's head at the start, so a slow client never holds a database transaction open.
   */
  async export(auth: Principal, query: ExportAuditQuery): Promise<AuditExport> {
    const format: ExportFormat = query.format ?? 'jsonl';
    const window = {
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
    };
    const chains = await this.tenantDb.run(auth.scope, async (tx) => {
      const chainKeys = this.selectChains(tx, query.tenantId);
      await this.recordAccess(tx, auth, 'audit.export', query.tenantId, {
        filters: pick(query, ['tenantId', 'from', 'to', 'format']),
        format,
      });
      return this.repository.chainSummaries(tx.db, chainKeys);
    });
    const scope = auth.scope;
    const tenantDb = this.tenantDb;
    const repository = this.repository;
    async function* lines(): AsyncGenerator<string> {
      if (format === 'csv') yield CSV_HEADER;
      for (const chain of chains) {
        for (let after = chain.firstSeq - 1; ;) {
          const batch = await tenantDb.run(scope, (tx) =>
            repository.chainEntries(tx.db, chain.chainKey, after, chain.lastSeq, EXPORT_BATCH, window),
          );
          if (batch.length > 0) {
            yield batch.map((entry) => (format === 'csv' ? csvRow : jsonLine)(entryView(entry))).join('');
          }
          const last = batch[batch.length - 1];
          if (!last || batch.length < EXPORT_BATCH) break;
          after = last.seq;
        }
      }
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    return {
      contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      filename: `medfleet-audit-${stamp}.${format}`,
      stream: Readable.from(lines(), { objectMode: false }),
    };
  }

  /** Verification for a request: recorded as an `audit.verify` read, then the chains in scope are walked. */
  async verifyFor(auth: Principal, query: { tenantId?: string }): Promise<VerificationReport> {
    const chainKeys = await this.tenantDb.run(auth.scope, async (tx) => {
      const keys = this.selectChains(tx, query.tenantId);
      await this.recordAccess(tx, auth, 'audit.verify', query.tenantId, {
        filters: pick(query, ['tenantId']),
      });
      return keys;
    });
    return this.verifyChains(auth.scope, chainKeys);
  }

  /** Verifies every chain `scope` may read, or only `chainKey` (a tenant id or the organization id). */
  async verify(scope: TenantScope, chainKey?: string): Promise<VerificationReport> {
    const chainKeys = await this.tenantDb.run(scope, async (tx) => {
      const allowed = chainsOf(tx);
      if (chainKey === undefined) return allowed;
      if (!allowed.includes(chainKey)) throw AppException.notFound('audit chain', chainKey);
      return [chainKey];
    });
    return this.verifyChains(scope, chainKeys);
  }

  /** Signs the current head of every chain in scope (or one tenant's), on demand. */
  checkpoint(auth: Principal, tenantId?: string): Promise<CheckpointView[]> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const chainKeys = this.selectChains(tx, tenantId);
      await this.recordAccess(tx, auth, 'audit.checkpoint', tenantId, { filters: { tenantId } });
      const summaries = await this.repository.chainSummaries(tx.db, chainKeys);
      const created: CheckpointView[] = [];
      // Sorted by chain key (chainSummaries' order): two callers never lock the same chains in opposite order.
      for (const chain of summaries) {
        const checkpoint = await this.writer.checkpointHead(tx.db, chain);
        if (checkpoint) created.push(checkpointView(checkpoint));
      }
      return created;
    });
  }

  listCheckpoints(auth: Principal, query: ListCheckpointsQuery): Promise<Page<CheckpointView>> {
    const limit = query.limit ?? 100;
    const after = decodeCheckpointCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const chainKeys = this.selectChains(tx, query.tenantId);
      const rows = await this.repository.listCheckpoints(tx.db, chainKeys, after, limit);
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        items: items.map(checkpointView),
        nextCursor: rows.length > limit && last ? encodeCheckpointCursor(last.chainKey, last.seq) : null,
      };
    });
  }

  async signingKeys(): Promise<SigningKeysView> {
    const keys = await this.tenantDb.unscoped((db) => this.repository.signingKeys(db));
    return {
      algorithm: SIGNING_ALGORITHM,
      keyId: this.signer.keyId,
      publicKeyPem: this.signer.publicKeyPem,
      keys: keys.map((key) => ({ ...key, registeredAt: key.registeredAt.toISOString() })),
    };
  }

  private async verifyChains(scope: TenantScope, chainKeys: string[]): Promise<VerificationReport> {
    const run = <T>(work: (db: EntityManager) => Promise<T>) => this.tenantDb.run(scope, (tx) => work(tx.db));
    const summaries = await run((db) => this.repository.chainSummaries(db, chainKeys));
    return new AuditVerifier(this.repository, run).verify(summaries);
  }

  /** The chain an event belongs to, refusing one outside the transaction's scope. */
  private async chainFor(tx: TenantTx, event: AuditEvent): Promise<ChainRef> {
    if (event.tenantId) {
      const organizationId = await this.organizationOf(tx.db, event.tenantId);
      // A tenant created in this very transaction is not among tx.tenantIds yet, but is the organization's.
      const inScope =
        tx.tenantIds.includes(event.tenantId) ||
        (tx.organizationId !== null && organizationId === tx.organizationId);
      if (!organizationId || !inScope) {
        throw new Error(
          `audit event ${event.action} names tenant ${event.tenantId} outside the transaction's scope`,
        );
      }
      return { chainKey: event.tenantId, organizationId, tenantId: event.tenantId };
    }
    const organizationId = event.organizationId ?? tx.organizationId;
    if (!organizationId || organizationId !== tx.organizationId) {
      throw new Error(
        `organization-level audit event ${event.action} needs a transaction scoped to that organization`,
      );
    }
    return { chainKey: organizationId, organizationId, tenantId: null };
  }

  private async organizationOf(db: EntityManager, tenantId: string): Promise<string | null> {
    const cached = this.tenantOrganizations.get(tenantId);
    if (cached) return cached;
    const organizationId = await this.repository.tenantOrganization(db, tenantId);
    if (organizationId) {
      if (this.tenantOrganizations.size >= 10_000) this.tenantOrganizations.clear();
      this.tenantOrganizations.set(tenantId, organizationId);
    }
    return organizationId;
  }

  private async actorFields(db: EntityManager, actor: AuditActor): Promise<AuditActorFields> {
    if (!ACTOR_KIND.test(actor.kind))
      throw new Error(`audit actor kind ${JSON.stringify(actor.kind)} is invalid`);
    let display = actor.display ?? null;
    const resolver = this.displayResolvers.get(actor.kind);
    if (display === null && actor.id && resolver) display = await resolver(db, actor.id);
    return {
      kind: actor.kind,
      id: clipText(actor.id, 200),
      display: clipText(display, 300),
      credential: clipText(actor.credential ?? null, 300),
    };
  }

  /**
   * Records a read of sensitive data (the audit trail itself, people's accounts), once per request: in the
   * tenant's chain when one tenant in scope was asked for, else in the organization's chain, else (a
   * practice principal) in each of its tenants' chains. The filters are part of the entry, an out-of-scope
   * tenant asked for included. Call it inside the read's transaction: no entry, no data.
   */
  async recordAccess(
    tx: TenantTx,
    auth: Principal,
    action: AuditAction,
    tenantId: string | undefined | null,
    details: Record<string, unknown>,
    target: { type: string; id: string } | null = null,
  ): Promise<void> {
    const actor = principalActor(auth);
    if (tenantId && tx.tenantIds.includes(tenantId)) {
      await this.record(tx, { action, actor, tenantId, details, target });
    } else if (tx.organizationId) {
      await this.record(tx, { action, actor, details, target });
    } else {
      for (const tenant of [...tx.tenantIds].sort())
        await this.record(tx, { action, actor, tenantId: tenant, details, target });
    }
  }

  /**
   * The chains a read may cover: every chain in scope, or one tenant's. Like every list, a tenant out of
   * scope gives nothing rather than an error that would confirm it exists.
   */
  private selectChains(tx: TenantTx, tenantId: string | undefined): string[] {
    if (tenantId === undefined) return chainsOf(tx);
    return tx.tenantIds.includes(tenantId) ? [tenantId] : [];
  }
}

/** The chains a transaction may read: its tenants', plus its organization's when it acts organization-wide. */
function chainsOf(tx: TenantTx): string[] {
  return tx.organizationId ? [...tx.tenantIds, tx.organizationId] : [...tx.tenantIds];
}

function parseActionFilter(action: string | undefined): EntryFilter['action'] {
  if (action === undefined) return undefined;
  return action.endsWith('.*') ? { prefix: action.slice(0, -1) } : { exact: action };
}

function parseActorFilter(actor: string | undefined): EntryFilter['actor'] {
  if (actor === undefined) return undefined;
  const colon = actor.indexOf(':');
  return colon < 0 ? { kind: actor } : { kind: actor.slice(0, colon), id: actor.slice(colon + 1) };
}

function pick<T extends object>(value: T, keys: string[]): Record<string, unknown> {
  const record = value as Record<string, unknown>;
  return Object.fromEntries(keys.filter((key) => record[key] !== undefined).map((key) => [key, record[key]]));
}

const invalidCursor = () =>
  new AppException(ErrorCode.INVALID_CURSOR, HttpStatus.BAD_REQUEST, 'The cursor is not valid');

export function encodeAuditCursor(occurredAt: Date, id: string): string {
  return Buffer.from(`${occurredAt.toISOString()}|${id}`, 'utf8').toString('base64url');
}

export function decodeAuditCursor(cursor: string | undefined): { occurredAt: Date; id: string } | null {
  if (cursor === undefined) return null;
  const [time, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const occurredAt = new Date(time ?? '');
  if (rest.length > 0 || !id || !UUID.test(id) || Number.isNaN(occurredAt.getTime())) throw invalidCursor();
  return { occurredAt, id };
}

function encodeCheckpointCursor(chainKey: string, seq: number): string {
  return Buffer.from(`${chainKey}|${seq}`, 'utf8').toString('base64url');
}

function decodeCheckpointCursor(cursor: string | undefined): { chainKey: string; seq: number } | null {
  if (cursor === undefined) return null;
  const [chainKey, seq, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const number = Number(seq);
  if (rest.length > 0 || !chainKey || !UUID.test(chainKey) || !Number.isSafeInteger(number) || number < 1) {
    throw invalidCursor();
  }
  return { chainKey, seq: number };
}
