/**
 * The only way the application reaches tenant data: a transaction that runs as the app role with the
 * principal's allowed tenants in transaction-local settings, which the row-level security policies read.
 */
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_ROLE } from './migrations/1764720000000-foundation.js';

/** What a transaction may touch: a whole organization's tenants and/or named tenants. */
export interface TenantScope {
  readonly organizationId: string | null;
  readonly tenantIds: readonly string[];
}

/**
 * An open tenant-scoped transaction. Repositories take it as their first argument, so a query without a
 * scope does not compile; they filter by `tenantIds` themselves (the service-layer check) and row-level
 * security checks again.
 */
export interface TenantTx {
  readonly db: EntityManager;
  readonly organizationId: string | null;
  /** Every tenant this transaction may touch, resolved when it began. */
  readonly tenantIds: readonly string[];
}

export class MissingTenantScopeError extends Error {
  constructor() {
    super('A database transaction was requested without a tenant scope');
    this.name = 'MissingTenantScopeError';
  }
}

@Injectable()
export class TenantDb {
  constructor(private readonly dataSource: DataSource) {}

  /** Runs `work` in one transaction scoped to `scope`. Never hold it while waiting on another connection. */
  async run<T>(scope: TenantScope, work: (tx: TenantTx) => Promise<T>): Promise<T> {
    if (!scope || (scope.organizationId === null && scope.tenantIds.length === 0)) {
      throw new MissingTenantScopeError();
    }
    return this.dataSource.transaction(async (db) => {
      await db.query(`SET LOCAL ROLE ${APP_ROLE}`);
      await db.query(
        `SELECT set_config('medfleet.org_id', $1, true), set_config('medfleet.tenant_ids', $2, true)`,
        [scope.organizationId ?? '', scope.tenantIds.join(',')],
      );
      const tenantIds =
        scope.organizationId === null
          ? scope.tenantIds
          : (
              (await db.query(`SELECT id FROM tenants WHERE organization_id = $1 OR id = ANY($2::uuid[])`, [
                scope.organizationId,
                scope.tenantIds,
              ])) as { id: string }[]
            ).map((row) => row.id);
      return work({ db, organizationId: scope.organizationId, tenantIds });
    });
  }

  /** For lookups of authentication material, which is not tenant-owned; still runs as the app role. */
  async unscoped<T>(work: (db: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (db) => {
      await db.query(`SET LOCAL ROLE ${APP_ROLE}`);
      return work(db);
    });
  }

  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}
