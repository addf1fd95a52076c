import { Body, Controller, Get, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { CreateSiteDto, ListSitesQuery, UpdateSiteDto } from './site.dto.js';
import { SiteService } from './site.service.js';

@ApiTags('sites')
@ApiBearerAuth()
@Controller('sites')
export class SiteController {
  constructor(private readonly sites: SiteService) {}

  @Post()
  @RequirePermission('site:write')
  create(@Auth() auth: Principal, @Body() dto: CreateSiteDto) {
    return this.sites.create(auth, dto);
  }

  @Get()
  @RequirePermission('site:read')
  list(@Auth() auth: Principal, @Query() query: ListSitesQuery) {
    return this.sites.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('site:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.sites.get(auth, id);
  }

  @Patch(':id')
  @RequirePermission('site:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateSiteDto) {
    return this.sites.update(auth, id, dto);
  }
}
