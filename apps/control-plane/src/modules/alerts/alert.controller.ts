/** Alerts about agents (silence for now): opened by the sweep, resolved when the agent reports again. */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { AppException } from '../../common/errors/app-exception.js';
import { TenantDb } from '../../database/tenant-db.js';
import { ListAlertsQuery } from './alert.dto.js';
import { AlertRepository, type AlertRow } from './alert.repository.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encodeCursor(row: AlertRow): string {
  return Buffer.from(`${row.opened_at.toISOString()}|${row.id}`).toString('base64url');
}

function decodeAlertCursor(cursor: string | undefined): { openedAt: Date; id: string } | null {
  if (cursor === undefined) return null;
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const openedAt = new Date(at ?? '');
  if (rest.length > 0 || !id || !UUID.test(id) || !Number.isFinite(openedAt.getTime())) {
    throw AppException.invalidCursor();
  }
  return { openedAt, id };
}

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('alerts')
export class AlertController {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly alerts: AlertRepository,
  ) {}

  /** Newest first; `state=open` for what needs attention. */
  @Get()
  @RequirePermission('agent:read')
  list(@Auth() auth: Principal, @Query() query: ListAlertsQuery) {
    const limit = query.limit ?? 100;
    const after = decodeAlertCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = await this.alerts.list(tx, {
        ...(query.tenantId ? { tenantId: query.tenantId } : {}),
        ...(query.siteId ? { siteId: query.siteId } : {}),
        ...(query.agentId ? { agentId: query.agentId } : {}),
        ...(query.state ? { state: query.state } : {}),
        after,
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map((row) => ({
          id: row.id,
          tenantId: row.tenant_id,
          siteId: row.site_id,
          agentId: row.agent_id,
          kind: row.kind,
          state: row.resolved_at ? 'resolved' : 'open',
          openedAt: row.opened_at,
          resolvedAt: row.resolved_at,
          lastSeenAt: row.last_seen_at,
          silenceThresholdSec: row.silence_threshold_sec,
        })),
        nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
      };
    });
  }
}
