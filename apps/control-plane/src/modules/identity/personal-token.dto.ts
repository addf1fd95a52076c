import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsDate, IsIn, IsString, Length } from 'class-validator';
import { PERMISSIONS, type Permission } from '../../common/auth/permissions.js';

export class CreatePersonalTokenDto {
  @ApiProperty({ example: 'nightly inventory export', minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name!: string;

  @ApiProperty({
    description: "What the token may do: a non-empty subset of the user's own permissions",
    enum: PERMISSIONS,
    isArray: true,
    example: ['device:read'],
  })
  @ArrayMinSize(1)
  @ArrayMaxSize(PERMISSIONS.length)
  @ArrayUnique()
  @IsIn(PERMISSIONS, { each: true })
  permissions!: Permission[];

  @ApiProperty({
    description: 'When the token stops working (required; at most PERSONAL_TOKEN_MAX_DAYS ahead)',
    type: String,
    format: 'date-time',
    example: '2026-06-30T00:00:00Z',
  })
  @Type(() => Date)
  @IsDate()
  expiresAt!: Date;
}
