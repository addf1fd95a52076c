import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  ValidateNested,
  type ValidationOptions,
} from 'class-validator';
import { PageQuery } from '../../common/pagination.js';
import { PATCH_JOB_STATES } from '../../database/migrations/1764720600000-campaigns.js';

export const CAMPAIGN_STATES = ['draft', 'running', 'paused', 'completed', 'cancelled'] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];
export const CATCH_UP_MODES = ['same-window', 'next-window', 'hold'] as const;

/** Estimated minutes by device model: a plain object of positive numbers. */
function IsMinutesByModel(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isMinutesByModel',
      target: target.constructor,
      propertyName,
      options: {
        message: `${propertyName} must map up to 500 model names (1–200 characters) to minutes from 1 to 1440`,
        ...options,
      },
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          return (
            entries.length <= 500 &&
            entries.every(
              ([model, minutes]) =>
                model.length >= 1 &&
                model.length <= 200 &&
                typeof minutes === 'number' &&
                Number.isFinite(minutes) &&
                minutes >= 1 &&
                minutes <= 1440,
            )
          );
        },
      },
    });
}

export class FirmwareRangeDto {
  @ApiPropertyOptional({ example: '12.0', description: 'Inclusive' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  min?: string;

  @ApiPropertyOptional({ example: '12.3', description: 'Exclusive' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  max?: string;
}

export class CampaignTargetDto {
  @ApiProperty({ example: 'BD', description: 'Device vendor (compared case-insensitively)' })
  @IsString()
  @Length(1, 200)
  vendor!: string;

  @ApiPropertyOptional({ type: [String], example: ['Alaris 8015 PC Unit'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Length(1, 200, { each: true })
  models?: string[];

  @ApiPropertyOptional({ type: FirmwareRangeDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => FirmwareRangeDto)
  firmware?: FirmwareRangeDto;
}

export class ArtifactDto {
  @ApiProperty({ example: '12.3.0' })
  @IsString()
  @Length(1, 100)
  version!: string;

  @ApiProperty({ example: 'a3f1…', description: 'SHA-256 of the artifact, hex' })
  @Matches(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lower-case hex digits' })
  sha256!: string;

  @ApiProperty({ description: "The vendor's or the MSP's signature over the artifact, base64" })
  @Matches(/^[A-Za-z0-9+/]+={0,2}$/, { message: 'signature must be base64' })
  @Length(16, 8192)
  signature!: string;

  @ApiProperty({ example: 52428800 })
  @IsInt()
  @Min(1)
  @Max(1e12)
  sizeBytes!: number;
}

export class ProcedureDto {
  @ApiProperty({ example: 'Replace the battery pack and update through the service port' })
  @IsString()
  @Length(1, 200)
  title!: string;

  @ApiProperty({ type: [String] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @Length(1, 1000, { each: true })
  steps!: string[];

  @ApiPropertyOptional({ example: '12.3.0', description: 'The firmware version a technician confirms' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  version?: string;
}

/**
 * One wave: a canary (sites or devices named) or a percentage of the remaining devices. Waves run in the
 * order given; each waits for the one before plus its soak time, and is gated on that wave's success rate.
 */
export class WaveDto {
  @ApiPropertyOptional({ type: [String], description: 'Canary: every target device at these sites' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  canarySiteIds?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Canary: these devices' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  canaryDeviceIds?: string[];

  @ApiPropertyOptional({ minimum: 1, maximum: 100, description: 'Share of the non-canary devices' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  percent?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 336,
    default: 0,
    description: 'Hours left free after the wave',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(336)
  soakHours?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100,
    description: 'Success rate this wave needs before the next',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  successRatePercent?: number;
}

export class AbortPolicyDto {
  @ApiProperty({
    minimum: 1,
    maximum: 100,
    example: 10,
    description: 'Pause when this share of jobs failed…',
  })
  @IsInt()
  @Min(1)
  @Max(100)
  failurePercent!: number;

  @ApiProperty({ minimum: 1, example: 20, description: '…once at least this many have run' })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  minExecuted!: number;
}

export class CatchUpDto {
  @ApiProperty({ enum: CATCH_UP_MODES })
  @IsIn(CATCH_UP_MODES)
  mode!: (typeof CATCH_UP_MODES)[number];

  @ApiPropertyOptional({ minimum: 0, maximum: 100 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  maxRollovers?: number;
}

export class DurationsDto {
  @ApiProperty({ example: { 'Alaris 8015 PC Unit': 20 }, description: 'Estimated minutes by device model' })
  @IsMinutesByModel()
  minutesByModel!: Record<string, number>;

  @ApiPropertyOptional({ minimum: 1, maximum: 1440, description: 'For models not listed' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(1440)
  defaultMinutes?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 500, default: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(500)
  marginPercent?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 240, default: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(240)
  marginMinutes?: number;
}

export class CreateCampaignDto {
  @ApiProperty({ example: 'Alaris PC Unit 12.3 (CVE-2026-0001)' })
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiProperty({ type: [String], description: 'The practices whose devices the campaign may touch' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  tenantIds!: string[];

  @ApiPropertyOptional({ type: [String], description: 'Only these sites of those practices (default: all)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10_000)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  siteIds?: string[];

  @ApiProperty({ type: CampaignTargetDto })
  @ValidateNested()
  @Type(() => CampaignTargetDto)
  target!: CampaignTargetDto;

  @ApiPropertyOptional({ type: ArtifactDto, description: 'The firmware to install (or a procedure)' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ArtifactDto)
  artifact?: ArtifactDto;

  @ApiPropertyOptional({ type: ProcedureDto, description: 'A manual procedure (or an artifact)' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ProcedureDto)
  procedure?: ProcedureDto;

  @ApiProperty({ type: [WaveDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @ValidateNested({ each: true })
  @Type(() => WaveDto)
  waves!: WaveDto[];

  @ApiPropertyOptional({ minimum: 0, maximum: 100, default: 95, description: 'Default gate of each wave' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  successRatePercent?: number;

  @ApiProperty({ type: AbortPolicyDto })
  @ValidateNested()
  @Type(() => AbortPolicyDto)
  abort!: AbortPolicyDto;

  @ApiProperty({ type: CatchUpDto })
  @ValidateNested()
  @Type(() => CatchUpDto)
  catchUp!: CatchUpDto;

  @ApiProperty({ type: DurationsDto })
  @ValidateNested()
  @Type(() => DurationsDto)
  durations!: DurationsDto;

  @ApiPropertyOptional({
    example: '2026-11-16T00:00:00Z',
    description: 'No job before this (default: start)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  earliestStart?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 90, default: 28, description: 'Plan windows opening within' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(90)
  horizonDays?: number;
}

/** A change to a draft; any change needs the practices' approval again. */
export class UpdateCampaignDto extends PartialType(OmitType(CreateCampaignDto, [] as const)) {}

export class ListCampaignsQuery extends PageQuery {
  @ApiPropertyOptional({ enum: CAMPAIGN_STATES })
  @IsOptional()
  @IsIn(CAMPAIGN_STATES)
  state?: CampaignState;
}

export class ListCampaignJobsQuery extends PageQuery {
  @ApiPropertyOptional({ enum: PATCH_JOB_STATES })
  @IsOptional()
  @IsIn(PATCH_JOB_STATES)
  state?: (typeof PATCH_JOB_STATES)[number];

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  siteId?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 9 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(9)
  wave?: number;
}

export class ApproveCampaignDto {
  @ApiPropertyOptional({
    type: [String],
    description:
      'The tenants approved for (default: every tenant of the campaign the caller may approve for)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  tenantIds?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  comment?: string;
}

export class ApprovalDelegationDto {
  @ApiProperty({ description: 'Whether the MSP may approve campaigns on behalf of this practice' })
  @IsBoolean()
  delegated!: boolean;
}
