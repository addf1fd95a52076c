import { Controller, Get, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { OrganizationService } from './organization.service.js';

@ApiTags('organizations')
@ApiBearerAuth()
@Controller('organizations')
export class OrganizationController {
  constructor(private readonly organizations: OrganizationService) {}

  @Get()
  list(@Auth() auth: Principal) {
    return this.organizations.list(auth).then((items) => ({ items, nextCursor: null }));
  }

  @Get(':id')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.organizations.get(auth, id);
  }
}
