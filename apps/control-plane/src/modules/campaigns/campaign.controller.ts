import { Body, Controller, Get, Param, ParseUUIDPipe, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import { NoQuery } from '../../common/pagination.js';
import {
  ApprovalDelegationDto,
  ApproveCampaignDto,
  CreateCampaignDto,
  ListCampaignJobsQuery,
  ListCampaignsQuery,
  UpdateCampaignDto,
} from './campaign.dto.js';
import { CampaignService } from './campaign.service.js';

@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('campaigns')
export class CampaignController {
  constructor(private readonly campaigns: CampaignService) {}

  @Post()
  @RequirePermission('campaign:write')
  create(@Auth() auth: Principal, @Body() dto: CreateCampaignDto) {
    return this.campaigns.create(auth, dto);
  }

  @Get()
  @RequirePermission('campaign:read')
  list(@Auth() auth: Principal, @Query() query: ListCampaignsQuery) {
    return this.campaigns.list(auth, query);
  }

  @Get(':id')
  @RequirePermission('campaign:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.campaigns.get(auth, id);
  }

  @Patch(':id')
  @RequirePermission('campaign:write')
  update(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateCampaignDto) {
    return this.campaigns.update(auth, id, dto);
  }

  @Post(':id/approve')
  @RequirePermission('campaign:approve')
  approve(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: ApproveCampaignDto) {
    return this.campaigns.approve(auth, id, dto);
  }

  /** The plan if the campaign started now: which devices, which nights, which sites, and what cannot be placed. */
  @Get(':id/preview')
  @RequirePermission('campaign:read')
  preview(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.campaigns.preview(auth, id);
  }

  @Get(':id/progress')
  @RequirePermission('campaign:read')
  progress(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.campaigns.progress(auth, id);
  }

  @Get(':id/jobs')
  @RequirePermission('campaign:read')
  jobs(
    @Auth() auth: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: ListCampaignJobsQuery,
  ) {
    return this.campaigns.listJobs(auth, id, query);
  }

  @Post(':id/start')
  @RequirePermission('campaign:write')
  start(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.campaigns.start(auth, id);
  }

  @Post(':id/pause')
  @RequirePermission('campaign:write')
  pause(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.campaigns.pause(auth, id);
  }

  @Post(':id/resume')
  @RequirePermission('campaign:write')
  resume(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.campaigns.resume(auth, id);
  }

  @Post(':id/cancel')
  @RequirePermission('campaign:write')
  cancel(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.campaigns.cancel(auth, id);
  }
}

/** A practice's choice to let its MSP approve campaigns on its behalf. */
@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('tenants')
export class CampaignApprovalDelegationController {
  constructor(private readonly campaigns: CampaignService) {}

  @Get(':id/campaign-approval')
  @RequirePermission('tenant:read')
  get(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Query() _query: NoQuery) {
    return this.campaigns.getDelegation(auth, id);
  }

  @Put(':id/campaign-approval')
  @RequirePermission('campaign:approve')
  set(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: ApprovalDelegationDto) {
    return this.campaigns.setDelegation(auth, id, dto);
  }
}
