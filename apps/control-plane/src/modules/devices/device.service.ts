import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { TenantDb } from '../../database/tenant-db.js';
import type { ListDevicesQuery } from './device.dto.js';
import { DeviceEntity } from './device.entity.js';

@Injectable()
export class DeviceService {
  constructor(private readonly tenantDb: TenantDb) {}

  list(auth: Principal, query: ListDevicesQuery): Promise<Page<DeviceEntity>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(DeviceEntity)
        .createQueryBuilder('d')
        .where('d.tenant_id = ANY(:allowed)', { allowed: tx.tenantIds })
        .orderBy('d.id', 'ASC')
        .limit(limit + 1);
      if (query.tenantId) qb.andWhere('d.tenant_id = :tenantId', { tenantId: query.tenantId });
      if (query.siteId) qb.andWhere('d.site_id = :siteId', { siteId: query.siteId });
      if (query.category) qb.andWhere('d.category = :category', { category: query.category });
      if (query.vendor) qb.andWhere('lower(d.vendor) = lower(:vendor)', { vendor: query.vendor });
      if (after) qb.andWhere('d.id > :after', { after });
      return toPage(await qb.getMany(), limit);
    });
  }

  get(auth: Principal, id: string): Promise<DeviceEntity> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const device = await tx.db
        .getRepository(DeviceEntity)
        .createQueryBuilder('d')
        .where('d.tenant_id = ANY(:allowed) AND d.id = :id', { allowed: tx.tenantIds, id })
        .getOne();
      if (!device) throw AppException.notFound('device', id);
      return device;
    });
  }
}
