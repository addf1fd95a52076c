import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsEmail,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { ROLES, type Role } from '../../common/auth/permissions.js';
import { PageQuery } from '../../common/pagination.js';

/** Optional fields may be left out, but not sent as null. */
const present = (_object: object, value: unknown) => value !== undefined;
const lower = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.trim().toLowerCase() : value;

export class CreateUserDto {
  @ApiProperty({ example: 'ana@acme-it.example' })
  @Transform(lower)
  @IsEmail()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ example: 'Ana Pérez', minLength: 1, maxLength: 200 })
  @IsString()
  @Length(1, 200)
  displayName!: string;

  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES)
  role!: Role;

  @ApiPropertyOptional({
    description:
      "Practice roles: the practice (tenant) the user belongs to; a practice admin's own by default",
    format: 'uuid',
  })
  @ValidateIf(present)
  @IsUUID()
  tenantId?: string;

  @ApiPropertyOptional({
    description: 'msp_technician only: limit the technician to these tenants (omit for every tenant)',
    type: [String],
    format: 'uuid',
  })
  @ValidateIf(present)
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  limitedTenantIds?: string[];

  @ApiPropertyOptional({
    description: 'An initial password (omit for a user who signs in with SSO only)',
    minLength: 12,
    maxLength: 256,
  })
  @ValidateIf(present)
  @IsString()
  @Length(1, 1024)
  password?: string;
}

export class UpdateUserDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @ValidateIf(present)
  @IsString()
  @Length(1, 200)
  displayName?: string;

  @ApiPropertyOptional({
    enum: ROLES,
    description: 'Within the same kind: MSP roles among themselves, practice roles among themselves',
  })
  @ValidateIf(present)
  @IsIn(ROLES)
  role?: Role;

  @ApiPropertyOptional({
    description: 'msp_technician only: the tenants the technician is limited to; null lifts the limit',
    type: [String],
    format: 'uuid',
    nullable: true,
  })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  limitedTenantIds?: string[] | null;

  @ApiPropertyOptional({
    description:
      "Sets a new password (an administrator's reset): ends the user's sessions and lifts a lockout",
  })
  @ValidateIf(present)
  @IsString()
  @Length(1, 1024)
  password?: string;
}

export class UserListQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;

  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;
}
