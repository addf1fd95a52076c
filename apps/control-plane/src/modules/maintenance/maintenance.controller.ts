import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { NoQuery } from '../../common/pagination.js';
import {
  CreateOrganizationBlackoutDto,
  CreateSiteBlackoutDto,
  ListOrganizationBlackoutsQuery,
  MaintenancePolicyDto,
  MaintenanceWindowsQuery,
  UpdateBlackoutDto,
} from './maintenance.dto.js';
import { MaintenanceService } from './maintenance.service.js';

/** A site's maintenance policy, its calendar and its own blackouts. */
@ApiTags('maintenance')
@ApiBearerAuth()
@Controller('sites')
export class SiteMaintenanceController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Get(':id/maintenance-policy')
  @RequirePermission('site:read')
  getPolicy(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.maintenance.getPolicy(auth, id);
  }

  @Put(':id/maintenance-policy')
  @RequirePermission('maintenance:write')
  putPolicy(
    @Auth() auth: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: MaintenancePolicyDto,
  ) {
    return this.maintenance.putPolicy(auth, id, dto);
  }

  @Get(':id/maintenance-windows')
  @RequirePermission('site:read')
  calendar(
    @Auth() auth: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: MaintenanceWindowsQuery,
  ) {
    return this.maintenance.calendar(auth, id, query);
  }

  @Get(':id/blackouts')
  @RequirePermission('site:read')
  blackouts(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.maintenance.siteBlackouts(auth, id).then((items) => ({ items }));
  }

  @Post(':id/blackouts')
  @RequirePermission('maintenance:write')
  createBlackout(
    @Auth() auth: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: CreateSiteBlackoutDto,
  ) {
    return this.maintenance.createSiteBlackout(auth, id, dto);
  }
}

/** A practice's blackout of one of its sites, by id. */
@ApiTags('maintenance')
@ApiBearerAuth()
@Controller('site-blackouts')
export class SiteBlackoutController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Patch(':id')
  @RequirePermission('maintenance:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateBlackoutDto) {
    return this.maintenance.updateSiteBlackout(auth, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequirePermission('maintenance:write')
  remove(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.maintenance.deleteSiteBlackout(auth, id);
  }
}

/** The MSP's freezes: the whole organization or a county. */
@ApiTags('maintenance')
@ApiBearerAuth()
@Controller('blackouts')
export class OrganizationBlackoutController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Get()
  @RequirePermission('site:read')
  list(@Auth() auth: Principal, @Query() query: ListOrganizationBlackoutsQuery) {
    return this.maintenance.listOrganizationBlackouts(auth, query);
  }

  @Post()
  @RequirePermission('blackout:write')
  create(@Auth() auth: Principal, @Body() dto: CreateOrganizationBlackoutDto) {
    return this.maintenance.createOrganizationBlackout(auth, dto);
  }

  @Patch(':id')
  @RequirePermission('blackout:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateBlackoutDto) {
    return this.maintenance.updateOrganizationBlackout(auth, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequirePermission('blackout:write')
  remove(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.maintenance.deleteOrganizationBlackout(auth, id);
  }
}
