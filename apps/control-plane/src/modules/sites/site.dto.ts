import { ApiProperty, ApiPropertyOptional, PartialType, OmitType } from '@nestjs/swagger';
import {
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';
import { PageQuery } from '../../common/pagination.js';

const TIME_ZONES = new Set(Intl.supportedValuesOf('timeZone'));
TIME_ZONES.add('UTC');

/** An IANA time zone name the runtime knows (`America/New_York`), not an offset. */
function IsIanaTimeZone(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isIanaTimeZone',
      target: target.constructor,
      propertyName,
      options: { message: `${propertyName} must be an IANA time zone such as America/New_York`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'string' && TIME_ZONES.has(value) },
    });
}

export class CreateSiteDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  tenantId!: string;

  @ApiProperty({ example: 'Coral Gables – Ponce de Leon' })
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiPropertyOptional({ example: '2500 Ponce de Leon Blvd' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  addressLine?: string;

  @ApiPropertyOptional({ example: 'Coral Gables' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  city?: string;

  @ApiPropertyOptional({ example: 'FL' })
  @IsOptional()
  @Matches(/^[A-Z]{2}$/, { message: 'state must be a two-letter code' })
  state?: string;

  @ApiPropertyOptional({ example: '33134' })
  @IsOptional()
  @Matches(/^[0-9]{5}(-[0-9]{4})?$/, { message: 'postalCode must be a US ZIP code' })
  postalCode?: string;

  @ApiPropertyOptional({ example: 'Miami-Dade' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  county?: string;

  @ApiProperty({ example: 'America/New_York' })
  @IsIanaTimeZone()
  timeZone!: string;
}

export class UpdateSiteDto extends PartialType(OmitType(CreateSiteDto, ['tenantId'] as const)) {}

export class ListSitesQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  tenantId?: string;
}
