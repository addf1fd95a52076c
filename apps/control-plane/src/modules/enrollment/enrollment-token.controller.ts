import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { CreateEnrollmentTokenDto, ListEnrollmentTokensQuery } from './enrollment-token.dto.js';
import { EnrollmentService } from './enrollment.service.js';

@ApiTags('enrollment tokens')
@ApiBearerAuth()
@Controller('enrollment-tokens')
export class EnrollmentTokenController {
  constructor(private readonly enrollment: EnrollmentService) {}

  /** The response holds the token itself: it is shown this once and stored only as a hash. */
  @Post()
  @RequirePermission('enrollment:write')
  create(@Auth() auth: Principal, @Body() dto: CreateEnrollmentTokenDto) {
    return this.enrollment.createToken(auth, dto);
  }

  @Get()
  @RequirePermission('enrollment:read')
  list(@Auth() auth: Principal, @Query() query: ListEnrollmentTokensQuery) {
    return this.enrollment.listTokens(auth, query);
  }

  @Get(':id')
  @RequirePermission('enrollment:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.enrollment.getToken(auth, id);
  }

  @Post(':id/revoke')
  @RequirePermission('enrollment:write')
  @HttpCode(200)
  revoke(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.enrollment.revokeToken(auth, id);
  }
}
