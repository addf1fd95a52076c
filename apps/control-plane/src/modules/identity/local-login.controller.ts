/**
 * Sign-in with a password and TOTP, and the caller's own account. The sign-in steps are public (they take
 * their credential in the body) and limited per client address.
 */
import { Body, Controller, Get, HttpCode, HttpStatus, Ip, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { Public } from '../../common/auth/public.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { NoQuery } from '../../common/pagination.js';
import { AccountService } from './account.service.js';
import { ChangePasswordDto, MfaCodeDto, MfaTokenDto, PasswordSignInDto } from './auth.dto.js';
import { SELF_SERVICE_PERMISSION } from './self-service.js';
import { SignInService } from './sign-in.service.js';
import { SignInThrottle } from './sign-in-throttle.js';

@ApiTags('auth')
@Controller('auth')
export class LocalLoginController {
  constructor(
    private readonly signIn: SignInService,
    private readonly account: AccountService,
    private readonly throttle: SignInThrottle,
  ) {}

  @Post('login')
  @Public()
  @HttpCode(HttpStatus.OK)
  login(@Ip() ip: string, @Res({ passthrough: true }) response: Response, @Body() dto: PasswordSignInDto) {
    this.throttle.admit(ip, response);
    return this.signIn.withPassword(dto, ip);
  }

  @Post('mfa/enroll')
  @Public()
  @HttpCode(HttpStatus.OK)
  enroll(@Ip() ip: string, @Res({ passthrough: true }) response: Response, @Body() dto: MfaTokenDto) {
    this.throttle.admit(ip, response);
    return this.signIn.enrollTotp(dto);
  }

  @Post('mfa/confirm')
  @Public()
  @HttpCode(HttpStatus.OK)
  confirm(@Ip() ip: string, @Res({ passthrough: true }) response: Response, @Body() dto: MfaCodeDto) {
    this.throttle.admit(ip, response);
    return this.signIn.confirmTotp(dto, ip);
  }

  @Post('mfa/verify')
  @Public()
  @HttpCode(HttpStatus.OK)
  verify(@Ip() ip: string, @Res({ passthrough: true }) response: Response, @Body() dto: MfaCodeDto) {
    this.throttle.admit(ip, response);
    return this.signIn.verifyTotp(dto, ip);
  }

  @Post('mfa/setup')
  @ApiBearerAuth()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  @HttpCode(HttpStatus.OK)
  setup(@Auth() auth: Principal, @Ip() ip: string) {
    return this.signIn.startTotpSetup(auth, ip);
  }

  @Get('me')
  @ApiBearerAuth()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  me(@Auth() auth: Principal, @Query() _query: NoQuery) {
    return this.account.describe(auth);
  }

  @Post('logout')
  @ApiBearerAuth()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  @HttpCode(HttpStatus.NO_CONTENT)
  logout(@Auth() auth: Principal) {
    return this.signIn.signOut(auth);
  }

  @Post('password')
  @ApiBearerAuth()
  @RequirePermission(SELF_SERVICE_PERMISSION)
  @HttpCode(HttpStatus.NO_CONTENT)
  changePassword(@Auth() auth: Principal, @Body() dto: ChangePasswordDto) {
    return this.signIn.changePassword(auth, dto);
  }
}
