import { Body, Controller, Get, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { PageQuery } from '../../common/pagination.js';
import { CreateTenantDto, UpdateTenantDto } from './tenant.dto.js';
import { TenantService } from './tenant.service.js';

@ApiTags('tenants')
@ApiBearerAuth()
@Controller('tenants')
export class TenantController {
  constructor(private readonly tenants: TenantService) {}

  @Post()
  @RequirePermission('tenant:write')
  create(@Auth() auth: Principal, @Body() dto: CreateTenantDto) {
    return this.tenants.create(auth, dto);
  }

  @Get()
  @RequirePermission('tenant:read')
  list(@Auth() auth: Principal, @Query() query: PageQuery) {
    return this.tenants.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('tenant:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.tenants.get(auth, id);
  }

  @Patch(':id')
  @RequirePermission('tenant:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateTenantDto) {
    return this.tenants.update(auth, id, dto);
  }
}
