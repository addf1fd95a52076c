import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
} from 'class-validator';
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

  @ApiPropertyOptional({
    default: false,
    description: 'Agents enrolled with this token wait as pending until a technician approves them',
  })
  @IsOptional()
  @IsBoolean()
  requiresApproval?: boolean;

  @ApiPropertyOptional({
    type: [String],
    example: ['10000000a3b4c5d6'],
    description: 'Pre-authorized hardware serials: only boxes reporting one of them may use the token',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ArrayUnique()
  @IsString({ each: true })
  @Length(1, 128, { each: true })
  @Matches(/^[\x21-\x7e]+$/, { each: true, message: 'each serial must be printable ASCII without spaces' })
  serials?: string[];
}

/** Filters by tenant and site, like every list of site-level objects. */
export class ListEnrollmentTokensQuery extends TenantSiteQuery {}
