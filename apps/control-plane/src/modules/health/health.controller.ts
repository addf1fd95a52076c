/** Liveness and readiness probes: the only unauthenticated routes, and they disclose nothing but up/down. */
import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../../common/auth/public.decorator.js';
import { TenantDb } from '../../database/tenant-db.js';
import { DownlinkPublisher } from '../ingest/downlink.publisher.js';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly downlink: DownlinkPublisher,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response) {
    const database = await this.tenantDb.ping().then(
      () => 'up' as const,
      () => 'down' as const,
    );
    const broker = this.downlink.connected ? ('up' as const) : ('down' as const);
    const ready = database === 'up' && broker === 'up';
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not_ready', checks: { database, broker } };
  }
}
