import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { TenantSiteQuery } from '../../common/pagination.js';
import { PATCH_JOB_STATES } from '../../database/migrations/1764720600000-campaigns.js';

export type PatchJobState = (typeof PATCH_JOB_STATES)[number];
export const CONFIRM_OUTCOMES = ['succeeded', 'failed'] as const;
export type ConfirmOutcome = (typeof CONFIRM_OUTCOMES)[number];

/** Query strings carry text: `true` and `false` become booleans, anything else fails validation. */
const queryBoolean = ({ value }: { value: unknown }) =>
  value === 'true' ? true : value === 'false' ? false : value;

export class ListPatchJobsQuery extends TenantSiteQuery {
  @ApiPropertyOptional({ enum: PATCH_JOB_STATES })
  @IsOptional()
  @IsIn(PATCH_JOB_STATES)
  state?: PatchJobState;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  campaignId?: string;

  @ApiPropertyOptional({
    type: Boolean,
    description:
      "true: only jobs waiting for a technician (running, the agent reported `waiting_manual`): the technician's worklist; false: every other job",
  })
  @IsOptional()
  @Transform(queryBoolean)
  @IsBoolean()
  waitingManual?: boolean;
}

export class ConfirmPatchJobDto {
  @ApiProperty({
    enum: CONFIRM_OUTCOMES,
    description: 'What the technician found once the checklist was done',
  })
  @IsIn(CONFIRM_OUTCOMES)
  outcome!: ConfirmOutcome;

  @ApiPropertyOptional({
    example: '12.3.0',
    description:
      "The firmware the device reports now; required for `succeeded` when the campaign's procedure names a version",
  })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  firmwareVersion?: string;

  @ApiPropertyOptional({
    maxLength: 1000,
    example: 'Battery pack replaced, device restarted and self-test passed',
  })
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  note?: string;
}

export class CancelPatchJobDto {
  @ApiPropertyOptional({ example: 'The pump was retired; the practice replaces it next month' })
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  note?: string;
}
