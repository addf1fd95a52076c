import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsString, Length, Matches, MaxLength, ValidateIf } from 'class-validator';
import { Transform } from 'class-transformer';

const SIX_DIGITS = /^\d{6}$/;
const lower = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.trim().toLowerCase() : value;

export class PasswordSignInDto {
  @ApiProperty({ description: "The organization's slug", example: 'acme-it' })
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'organization must be an organization slug' })
  organization!: string;

  @ApiProperty({ example: 'ana@acme-it.example' })
  @Transform(lower)
  @IsEmail()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ minLength: 1, maxLength: 1024 })
  @IsString()
  @Length(1, 1024)
  password!: string;

  @ApiPropertyOptional({
    description:
      'The current TOTP code, to sign in in one step; without it an enrolled user gets an MFA token',
    example: '123456',
  })
  @ValidateIf((_object, value) => value !== undefined)
  @IsString()
  @Matches(SIX_DIGITS, { message: 'totp must be 6 digits' })
  totp?: string;
}

export class MfaTokenDto {
  @ApiProperty({ description: 'The MFA-limited session token (mfm_…) answered by the sign-in' })
  @IsString()
  @Length(1, 200)
  mfaToken!: string;
}

export class MfaCodeDto extends MfaTokenDto {
  @ApiProperty({ example: '123456' })
  @IsString()
  @Matches(SIX_DIGITS, { message: 'code must be 6 digits' })
  code!: string;
}

export class ChangePasswordDto {
  @ApiProperty()
  @IsString()
  @Length(1, 1024)
  currentPassword!: string;

  @ApiProperty({ minLength: 12, maxLength: 256 })
  @IsString()
  @Length(1, 1024)
  newPassword!: string;
}
