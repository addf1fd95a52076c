import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { ListDevicesQuery } from './device.dto.js';
import { DeviceService } from './device.service.js';

@ApiTags('devices')
@ApiBearerAuth()
@Controller('devices')
export class DeviceController {
  constructor(private readonly devices: DeviceService) {}

  @Get()
  list(@Auth() auth: Principal, @Query() query: ListDevicesQuery) {
    return this.devices.list(auth, query);
  }

  @Get(':id')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.devices.get(auth, id);
  }
}
