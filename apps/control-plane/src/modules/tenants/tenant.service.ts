import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page, type PageQuery } from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import type { CreateTenantDto, UpdateTenantDto } from './tenant.dto.js';
import { TenantEntity } from './tenant.entity.js';

@Injectable()
export class TenantService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly audit: AuditService,
  ) {}

  create(auth: Principal, dto: CreateTenantDto): Promise<TenantEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const repo = tx.db.getRepository(TenantEntity);
      if (await repo.existsBy({ organizationId: auth.organizationId, name: dto.name })) {
        throw AppException.conflict(`A tenant named ${JSON.stringify(dto.name)} already exists`, {
          name: dto.name,
        });
      }
      const id = randomUUID();
      await repo.insert({ id, organizationId: auth.organizationId, name: dto.name });
      const tenant = await repo.findOneByOrFail({ id });
      await this.audit.record(tx, {
        action: 'tenant.create',
        actor: principalActor(auth),
        tenantId: id,
        target: { type: 'tenant', id },
        after: tenant,
      });
      return tenant;
    });
  }

  list(auth: Principal, query: PageQuery): Promise<Page<TenantEntity>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(TenantEntity)
        .createQueryBuilder('t')
        .where('t.id = ANY(:allowed)', { allowed: tx.tenantIds })
        .orderBy('t.id', 'ASC')
        .take(limit + 1);
      if (after) qb.andWhere('t.id > :after', { after });
      return toPage(await qb.getMany(), limit);
    });
  }

  get(auth: Principal, id: string): Promise<TenantEntity> {
    return this.tenantDb.run(auth.scope, (tx) => this.require(tx, id));
  }

  update(auth: Principal, id: string, dto: UpdateTenantDto): Promise<TenantEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.require(tx, id);
      await tx.db.getRepository(TenantEntity).update({ id }, { name: dto.name, updatedAt: new Date() });
      const after = await this.require(tx, id);
      await this.audit.record(tx, {
        action: 'tenant.update',
        actor: principalActor(auth),
        tenantId: id,
        target: { type: 'tenant', id },
        before,
        after,
      });
      return after;
    });
  }

  /** Finds a tenant the transaction may touch, or answers 404 (never 403: existence is not disclosed). */
  async require(tx: TenantTx, id: string): Promise<TenantEntity> {
    const tenant = tx.tenantIds.includes(id)
      ? await tx.db.getRepository(TenantEntity).findOneBy({ id })
      : null;
    if (!tenant) throw AppException.notFound('tenant', id);
    return tenant;
  }
}
