import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { TenantService } from '../tenants/tenant.service.js';
import type { CreateSiteDto, ListSitesQuery, UpdateSiteDto } from './site.dto.js';
import { SiteEntity } from './site.entity.js';

@Injectable()
export class SiteService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly tenants: TenantService,
    private readonly audit: AuditService,
  ) {}

  create(auth: Principal, dto: CreateSiteDto): Promise<SiteEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      await this.tenants.require(tx, dto.tenantId);
      const repo = tx.db.getRepository(SiteEntity);
      if (await repo.existsBy({ tenantId: dto.tenantId, name: dto.name })) {
        throw AppException.conflict(`A site named ${JSON.stringify(dto.name)} already exists in this tenant`);
      }
      const id = randomUUID();
      await repo.insert({ ...dto, id });
      const site = await repo.findOneByOrFail({ tenantId: dto.tenantId, id });
      await this.audit.record(tx, {
        action: 'site.create',
        actor: principalActor(auth),
        tenantId: site.tenantId,
        target: { type: 'site', id },
        after: site,
      });
      return site;
    });
  }

  list(auth: Principal, query: ListSitesQuery): Promise<Page<SiteEntity>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(SiteEntity)
        .createQueryBuilder('s')
        .where('s.tenant_id = ANY(:allowed)', { allowed: tx.tenantIds })
        .orderBy('s.id', 'ASC')
        .take(limit + 1);
      if (query.tenantId) qb.andWhere('s.tenant_id = :tenantId', { tenantId: query.tenantId });
      if (after) qb.andWhere('s.id > :after', { after });
      return toPage(await qb.getMany(), limit);
    });
  }

  get(auth: Principal, id: string): Promise<SiteEntity> {
    return this.tenantDb.run(auth.scope, (tx) => this.require(tx, id));
  }

  update(auth: Principal, id: string, dto: UpdateSiteDto): Promise<SiteEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const site = await this.require(tx, id);
      if (Object.keys(dto).length === 0) return site;
      await tx.db
        .getRepository(SiteEntity)
        .update({ tenantId: site.tenantId, id }, { ...dto, updatedAt: new Date() });
      const after = await this.require(tx, id);
      await this.audit.record(tx, {
        action: 'site.update',
        actor: principalActor(auth),
        tenantId: site.tenantId,
        target: { type: 'site', id },
        before: site,
        after,
      });
      return after;
    });
  }

  async require(tx: TenantTx, id: string): Promise<SiteEntity> {
    const site = await tx.db
      .getRepository(SiteEntity)
      .createQueryBuilder('s')
      .where('s.tenant_id = ANY(:allowed) AND s.id = :id', { allowed: tx.tenantIds, id })
      .getOne();
    if (!site) throw AppException.notFound('site', id);
    return site;
  }
}
