import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { PageQuery } from '../../common/pagination.js';

/**
 * A site's maintenance policy as the scheduling library reads it. The shape is checked here only as far as
 * types go; the library checks the meaning (times, overlapping nights) and lists every problem.
 */
export class MaintenancePolicyDto {
  @ApiPropertyOptional({
    example: { start: '22:00', end: '05:00' },
    description: 'Every night in site-local clock times (HH:MM); default 22:00–05:00',
  })
  @IsOptional()
  @IsObject()
  window?: Record<string, unknown>;

  @ApiPropertyOptional({
    example: { thu: { start: '23:00' }, sun: null },
    description:
      'Overrides by the weekday the window opens on; a partial one inherits the rest, null = no window',
  })
  @IsOptional()
  @IsObject()
  weekdays?: Record<string, unknown>;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 1 })
  @IsOptional()
  @IsInt()
  maxConcurrentJobs?: number;
}

const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The period of a blackout: an absolute interval, or whole nights in each site's own calendar. */
export class BlackoutPeriodDto {
  @ApiProperty({ enum: ['interval', 'local-dates'] })
  @IsIn(['interval', 'local-dates'])
  kind!: 'interval' | 'local-dates';

  @ApiPropertyOptional({
    example: '2026-09-14T12:00:00Z',
    description: 'interval: start, with Z or an offset',
  })
  @ValidateIf((dto: BlackoutPeriodDto) => dto.kind === 'interval' || dto.start !== undefined)
  @IsString()
  @MaxLength(40)
  start?: string;

  @ApiPropertyOptional({ example: '2026-09-17T12:00:00Z', description: 'interval: end (exclusive)' })
  @ValidateIf((dto: BlackoutPeriodDto) => dto.kind === 'interval' || dto.end !== undefined)
  @IsString()
  @MaxLength(40)
  end?: string;

  @ApiPropertyOptional({ example: '2026-12-24', description: 'local-dates: first night (YYYY-MM-DD)' })
  @ValidateIf((dto: BlackoutPeriodDto) => dto.kind === 'local-dates' || dto.firstDate !== undefined)
  @Matches(LOCAL_DATE, { message: 'firstDate must be YYYY-MM-DD' })
  firstDate?: string;

  @ApiPropertyOptional({ example: '2026-12-25', description: 'local-dates: last night (inclusive)' })
  @ValidateIf((dto: BlackoutPeriodDto) => dto.kind === 'local-dates' || dto.lastDate !== undefined)
  @Matches(LOCAL_DATE, { message: 'lastDate must be YYYY-MM-DD' })
  lastDate?: string;

  @ApiProperty({ example: 'Hurricane Milton: change freeze' })
  @IsString()
  @Length(1, 500)
  reason!: string;
}

export class CreateSiteBlackoutDto extends BlackoutPeriodDto {}

export class CreateOrganizationBlackoutDto extends BlackoutPeriodDto {
  @ApiProperty({ enum: ['organization', 'county'] })
  @IsIn(['organization', 'county'])
  scope!: 'organization' | 'county';

  @ApiPropertyOptional({ example: 'Miami-Dade', description: 'county scope: the county, as sites name it' })
  @ValidateIf((dto: CreateOrganizationBlackoutDto) => dto.scope === 'county' || dto.county !== undefined)
  @IsString()
  @Length(1, 100)
  county?: string;
}

/** A change to a blackout's period or reason; the kind and scope stay. */
export class UpdateBlackoutDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(40)
  start?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(40)
  end?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(LOCAL_DATE, { message: 'firstDate must be YYYY-MM-DD' })
  firstDate?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(LOCAL_DATE, { message: 'lastDate must be YYYY-MM-DD' })
  lastDate?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 500)
  reason?: string;
}

export class ListOrganizationBlackoutsQuery extends PageQuery {}

export class MaintenanceWindowsQuery {
  @ApiPropertyOptional({ example: '2026-03-01T00:00:00Z', description: 'Default: now' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  from?: string;

  @ApiPropertyOptional({
    example: '2026-03-15T00:00:00Z',
    description: 'Default: 14 days after from; at most 92 days',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  to?: string;
}
