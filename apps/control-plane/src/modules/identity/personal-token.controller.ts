import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { PageQuery } from '../../common/pagination.js';
import { CreatePersonalTokenDto } from './personal-token.dto.js';
import { PersonalTokenService } from './personal-token.service.js';
import { SELF_SERVICE_PERMISSION } from './self-service.js';

/** The caller's own personal API tokens. */
@ApiTags('auth')
@ApiBearerAuth()
@Controller('auth/tokens')
export class PersonalTokenController {
  constructor(private readonly tokens: PersonalTokenService) {}

  @Post()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  create(@Auth() auth: Principal, @Body() dto: CreatePersonalTokenDto) {
    return this.tokens.create(auth, dto);
  }

  @Get()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  list(@Auth() auth: Principal, @Query() query: PageQuery) {
    return this.tokens.list(auth, query);
  }

  @Post(':id/revoke')
  @RequirePermission(SELF_SERVICE_PERMISSION)
  @HttpCode(HttpStatus.OK)
  revoke(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.tokens.revoke(auth, id);
  }
}
