import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { NoQuery, PageQuery } from '../../common/pagination.js';
import { CancelPatchJobDto, ConfirmPatchJobDto, ListPatchJobsQuery } from './patch-job.dto.js';
import { PatchJobService } from './patch-job.service.js';

@ApiTags('patch-jobs')
@ApiBearerAuth()
@Controller('patch-jobs')
export class PatchJobController {
  constructor(private readonly jobs: PatchJobService) {}

  /** The jobs of the caller's tenants; `waitingManual=true` is the technicians' worklist. */
  @Get()
  @RequirePermission('campaign:read')
  list(@Auth() auth: Principal, @Query() query: ListPatchJobsQuery) {
    return this.jobs.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('campaign:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.jobs.get(auth, id);
  }

  @Get(':id/history')
  @RequirePermission('campaign:read')
  history(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() query: PageQuery) {
    return this.jobs.history(auth, id, query);
  }

  /** A technician's report on a job waiting for them: it ends the job succeeded or failed. */
  @Post(':id/confirm')
  @RequirePermission('job:confirm')
  @HttpCode(HttpStatus.OK)
  confirm(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: ConfirmPatchJobDto) {
    return this.jobs.confirm(auth, id, dto);
  }

  /** Puts a job held for an operator back in the plan, at the earliest slot where it fits. */
  @Post(':id/retry')
  @RequirePermission('campaign:write')
  @HttpCode(HttpStatus.OK)
  retry(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.jobs.retry(auth, id);
  }

  /** Cancels a job not handed to an agent; the campaign goes on (and can complete) without it. */
  @Post(':id/cancel')
  @RequirePermission('campaign:write')
  @HttpCode(HttpStatus.OK)
  cancel(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: CancelPatchJobDto) {
    return this.jobs.cancel(auth, id, dto.note);
  }
}
