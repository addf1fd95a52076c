import { ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsUUID, Matches, MaxLength, ValidateIf } from 'class-validator';
import { PageQuery } from '../../common/pagination.js';

const ACTION_FILTER = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/;
const ACTOR_FILTER = /^[a-z][a-z_]{0,31}(:[A-Za-z0-9._@:-]{1,200})?$/;

/** The time window and tenant that reads, exports and verification share. */
export class AuditWindowQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only this tenant’s chain' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Entries at or after this instant' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Entries before this instant' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}

export class ListAuditEntriesQuery extends IntersectionType(PageQuery, AuditWindowQuery) {
  @ApiPropertyOptional({ example: 'site.update', description: 'An action, or a family such as `auth.*`' })
  @IsOptional()
  @MaxLength(100)
  @Matches(ACTION_FILTER, { message: 'action must look like site.update or auth.*' })
  action?: string;

  @ApiPropertyOptional({ example: 'api_key:0b6f…', description: 'An actor kind, or kind:id' })
  @IsOptional()
  @MaxLength(240)
  @Matches(ACTOR_FILTER, { message: 'actor must look like user, user:<id> or api_key:<id>' })
  actor?: string;
}

export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class ExportAuditQuery extends AuditWindowQuery {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'jsonl' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS)
  format?: ExportFormat;
}

export class VerifyAuditQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only this tenant’s chain' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;
}

export class ListCheckpointsQuery extends IntersectionType(PageQuery, VerifyAuditQuery) {}

export class CreateCheckpointsDto {
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Only this tenant’s chain (default: every chain in scope)',
  })
  // Absent means every chain; null is not a way to say so.
  @ValidateIf((_dto, value) => value !== undefined)
  @IsUUID()
  tenantId?: string;
}
