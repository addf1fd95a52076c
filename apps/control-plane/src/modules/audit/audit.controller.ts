import { Body, Controller, Get, Post, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { NoQuery } from '../../common/pagination.js';
import {
  CreateCheckpointsDto,
  ExportAuditQuery,
  ListAuditEntriesQuery,
  ListCheckpointsQuery,
  VerifyAuditQuery,
} from './audit.dto.js';
import { AuditService } from './audit.service.js';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Newest first; reading the trail is itself recorded (`audit.read`). */
  @Get('entries')
  @RequirePermission('audit:read')
  list(@Auth() auth: Principal, @Query() query: ListAuditEntriesQuery) {
    return this.audit.list(auth, query);
  }

  /** Streamed JSON lines or CSV, chain by chain in seq order, with hashes for offline verification. */
  @Get('export')
  @RequirePermission('audit:export')
  @ApiProduces('application/x-ndjson', 'text/csv')
  async export(@Auth() auth: Principal, @Query() query: ExportAuditQuery) {
    const result = await this.audit.export(auth, query);
    return new StreamableFile(result.stream, {
      type: result.contentType,
      disposition: `attachment; filename="${result.filename}"`,
    });
  }

  @Get('verify')
  @RequirePermission('audit:read')
  verify(@Auth() auth: Principal, @Query() query: VerifyAuditQuery) {
    return this.audit.verifyFor(auth, query);
  }

  @Get('checkpoints')
  @RequirePermission('audit:read')
  checkpoints(@Auth() auth: Principal, @Query() query: ListCheckpointsQuery) {
    return this.audit.listCheckpoints(auth, query);
  }

  /** Signs the head of every chain in scope now (before an export, say). */
  @Post('checkpoints')
  @RequirePermission('audit:export')
  createCheckpoints(@Auth() auth: Principal, @Body() dto: CreateCheckpointsDto) {
    return this.audit.checkpoint(auth, dto.tenantId).then((items) => ({ items, nextCursor: null }));
  }

  /** The Ed25519 public key(s) checkpoints are signed with, for offline verification. */
  @Get('signing-key')
  @RequirePermission('audit:read')
  signingKey(@Query() _query: NoQuery) {
    return this.audit.signingKeys();
  }
}
