import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { DEVICE_CATEGORIES, type DeviceCategory } from '@medfleet/contracts';
import { PageQuery } from '../../common/pagination.js';

export class ListDevicesQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  siteId?: string;

  @ApiPropertyOptional({ enum: DEVICE_CATEGORIES })
  @IsOptional()
  @IsIn(DEVICE_CATEGORIES)
  category?: DeviceCategory;

  @ApiPropertyOptional({ description: 'Exact vendor name, case-insensitive', example: 'Baxter' })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  vendor?: string;
}
