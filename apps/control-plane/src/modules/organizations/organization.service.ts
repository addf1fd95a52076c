/** Organizations (MSPs): what a principal may see of them, and first-start bootstrap. */
import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page, type PageQuery } from '../../common/pagination.js';
import { TenantDb } from '../../database/tenant-db.js';
import { systemActor, type AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { ApiKeyService } from './api-key.service.js';
import { OrganizationEntity } from './organization.entity.js';

export interface CreatedOrganization {
  organization: OrganizationEntity;
  apiKey: { id: string; token: string };
}

@Injectable()
export class OrganizationService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly apiKeys: ApiKeyService,
    private readonly audit: AuditService,
  ) {}

  /** A principal belongs to one organization, so the list has at most one entry; it pages like every list. */
  list(auth: Principal, query: PageQuery): Promise<Page<OrganizationEntity>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const qb = tx.db
        .getRepository(OrganizationEntity)
        .createQueryBuilder('o')
        .where('o.id = :id', { id: auth.organizationId })
        .orderBy('o.id', 'ASC')
        .limit(limit + 1);
      if (after) qb.andWhere('o.id > :after', { after });
      return toPage(await qb.getMany(), limit);
    });
  }

  async get(auth: Principal, id: string): Promise<OrganizationEntity> {
    const organization =
      id === auth.organizationId
        ? await this.tenantDb.run(auth.scope, (tx) =>
            tx.db.getRepository(OrganizationEntity).findOneBy({ id }),
          )
        : null;
    if (!organization) throw AppException.notFound('organization', id);
    return organization;
  }

  /** Creates an organization with its first API key (an operator action: CLI or first start). */
  async create(
    name: string,
    slug: string,
    actor: AuditActor = systemActor('control plane'),
  ): Promise<CreatedOrganization> {
    const id = randomUUID();
    return this.tenantDb.run({ organizationId: id, tenantIds: [] }, async (tx) => {
      const repo = tx.db.getRepository(OrganizationEntity);
      await repo.insert({ id, name, slug });
      const organization = await repo.findOneByOrFail({ id });
      await this.audit.record(tx, {
        action: 'organization.create',
        actor,
        organizationId: id,
        target: { type: 'organization', id },
        after: organization,
      });
      const apiKey = await this.apiKeys.create(tx, id, 'initial', actor);
      return { organization, apiKey };
    });
  }

  /** On a database with no API key at all, creates the default organization and returns its key once. */
  async bootstrap(): Promise<CreatedOrganization | null> {
    const exists = await this.tenantDb.unscoped(async (db) => {
      await db.query(`SELECT pg_advisory_xact_lock(hashtext('medfleet:bootstrap'))`);
      const rows = (await db.query(`SELECT EXISTS (SELECT 1 FROM org_api_keys) AS present`)) as {
        present: boolean;
      }[];
      return rows[0]?.present === true;
    });
    return exists ? null : this.create('Default MSP', 'default', systemActor('first-start bootstrap'));
  }
}
