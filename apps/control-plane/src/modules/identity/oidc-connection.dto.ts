import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Length,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { ROLES, type Role } from '../../common/auth/permissions.js';

const lowerEach = ({ value }: { value: unknown }) =>
  Array.isArray(value)
    ? value.map((item) => (typeof item === 'string' ? item.trim().toLowerCase() : item))
    : value;

/** One organization's OpenID Connect connection (Entra ID, Okta, Google Workspace, any OpenID Provider). */
export class PutOidcConnectionDto {
  @ApiProperty({
    description: "The provider's issuer URL (discovery at /.well-known/openid-configuration)",
    example: 'https://login.microsoftonline.com/<tenant>/v2.0',
  })
  @IsUrl({ protocols: ['https', 'http'], require_protocol: true, require_tld: false })
  @MaxLength(500)
  issuer!: string;

  @ApiProperty({ minLength: 1, maxLength: 500 })
  @IsString()
  @Length(1, 500)
  clientId!: string;

  @ApiPropertyOptional({
    description: 'Required on the first configuration; omit to keep the stored one. Never answered back.',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2000)
  clientSecret?: string;

  @ApiProperty({
    description: 'Only people whose email is in one of these domains may sign in',
    example: ['acme-it.example'],
  })
  @Transform(lowerEach)
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ArrayUnique()
  @Matches(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, {
    each: true,
    message: 'each allowed email domain must be a domain name',
  })
  allowedEmailDomains!: string[];

  @ApiPropertyOptional({
    enum: ROLES,
    nullable: true,
    description:
      'The role of people signing in for the first time; null: only users created beforehand may sign in',
  })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @IsIn(ROLES)
  newUserRole?: Role | null;

  @ApiPropertyOptional({
    format: 'uuid',
    nullable: true,
    description: 'The tenant of new users when newUserRole is a practice role',
  })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @IsUUID()
  newUserTenantId?: string | null;

  @ApiPropertyOptional({
    description:
      '`amr` values of the ID token that count as multi-factor authentication for MSP roles (default mfa, otp); an empty list makes MSP staff always enter their Medfleet TOTP after SSO',
    example: ['mfa', 'otp'],
  })
  @IsOptional()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @Matches(/^[A-Za-z0-9_.-]{1,32}$/, { each: true, message: 'each amr value must be a short token' })
  mfaAmrValues?: string[];

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}
