import { Controller, Get, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { OrganizationService } from './organization.service.js';

@ApiTags('organizations')
@ApiBearerAuth()
@Controller('organizations')
export class OrganizationController {
  constructor(private readonly organizations: OrganizationService) {}

  @Get()
  @RequirePermission('organization:read')
  list(@Auth() auth: Principal) {
    return this.organizations.list(auth).then((items) => ({ items, nextCursor: null }));
  }

  @Get(':id')
  @RequirePermission('organization:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.organizations.get(auth, id);
  }
}
