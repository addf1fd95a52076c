import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import { TenantSiteQuery } from '../../common/pagination.js';

export class CreateEnrollmentTokenDto {
  @ApiProperty({ format: 'uuid', description: 'The site the enrolled agents will belong to' })
  @IsUUID()
  siteId!: string;

  @ApiPropertyOptional({ example: 'Pi for the Hialeah front office' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  label?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 720, default: 72 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(720)
  expiresInHours?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  maxUses?: number;
}

/** Filters by tenant and site, like every list of site-level objects. */
export class ListEnrollmentTokensQuery extends TenantSiteQuery {}
