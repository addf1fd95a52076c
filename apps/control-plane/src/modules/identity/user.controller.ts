import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { CreateUserDto, UpdateUserDto, UserListQuery } from './user.dto.js';
import { UserService } from './user.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UserController {
  constructor(private readonly users: UserService) {}

  @Post()
  @RequirePermission('user:write')
  create(@Auth() auth: Principal, @Body() dto: CreateUserDto) {
    return this.users.create(auth, dto);
  }

  @Get()
  @RequirePermission('user:read')
  list(@Auth() auth: Principal, @Query() query: UserListQuery) {
    return this.users.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('user:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.users.get(auth, id);
  }

  @Patch(':id')
  @RequirePermission('user:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateUserDto) {
    return this.users.update(auth, id, dto);
  }

  @Post(':id/disable')
  @RequirePermission('user:write')
  @HttpCode(HttpStatus.OK)
  disable(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.users.disable(auth, id);
  }

  @Post(':id/enable')
  @RequirePermission('user:write')
  @HttpCode(HttpStatus.OK)
  enable(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.users.enable(auth, id);
  }

  @Post(':id/mfa/reset')
  @RequirePermission('user:write')
  @HttpCode(HttpStatus.OK)
  resetMfa(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.users.resetMfa(auth, id);
  }
}
