import { Body, Controller, Get, Param, ParseUUIDPipe, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { PutOidcConnectionDto } from './oidc-connection.dto.js';
import { OidcConnectionService } from './oidc-connection.service.js';

/** The organization's single sign-on (OpenID Connect) configuration. */
@ApiTags('organizations')
@ApiBearerAuth()
@Controller('organizations')
export class OidcConnectionController {
  constructor(private readonly connections: OidcConnectionService) {}

  @Get(':id/oidc')
  @RequirePermission('user:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.connections.get(auth, id);
  }

  @Put(':id/oidc')
  @RequirePermission('user:write')
  put(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: PutOidcConnectionDto) {
    return this.connections.put(auth, id, dto);
  }
}
