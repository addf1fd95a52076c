import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { DEVICE_CATEGORIES, type DeviceCategory } from '@medfleet/contracts';
import { TenantSiteQuery } from '../../common/pagination.js';

export class ListDevicesQuery extends TenantSiteQuery {
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
