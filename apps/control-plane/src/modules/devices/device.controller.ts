import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { ListDevicesQuery } from './device.dto.js';
import { DeviceService } from './device.service.js';

@ApiTags('devices')
@ApiBearerAuth()
@Controller('devices')
export class DeviceController {
  constructor(private readonly devices: DeviceService) {}

  @Get()
  @RequirePermission('device:read')
  list(@Auth() auth: Principal, @Query() query: ListDevicesQuery) {
    return this.devices.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('device:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.devices.get(auth, id);
  }
}
