/** The browser's side of single sign-on: start (redirect to the provider) and the provider's callback. */
import { Controller, Get, HttpStatus, Ip, Param, Req, Res } from '@nestjs/common';
import { ApiFoundResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../../common/auth/public.decorator.js';
import { IdentityErrorCode, IdentityException } from './identity.exception.js';
import { OidcService } from './oidc.service.js';
import { SignInThrottle } from './sign-in-throttle.js';

@ApiTags('auth')
@Public()
@Controller('auth/oidc')
export class OidcController {
  constructor(
    private readonly oidc: OidcService,
    private readonly throttle: SignInThrottle,
  ) {}

  @Get(':organization/start')
  @ApiFoundResponse({ description: "Redirect to the organization's identity provider" })
  async start(@Ip() ip: string, @Param('organization') organization: string, @Res() response: Response) {
    this.throttle.admit(ip, response);
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(organization)) {
      throw new IdentityException(
        IdentityErrorCode.SSO_NOT_CONFIGURED,
        HttpStatus.NOT_FOUND,
        'Single sign-on is not available for this organization',
      );
    }
    response.redirect(HttpStatus.FOUND, await this.oidc.start(organization));
  }

  /** Answers the sign-in result (a session, or the MFA step still owed) as JSON. */
  @Get('callback')
  callback(@Ip() ip: string, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    this.throttle.admit(ip, response);
    const url = request.originalUrl ?? request.url;
    const rawQuery = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    return this.oidc.callback(request.query as Record<string, unknown>, rawQuery, ip);
  }
}
