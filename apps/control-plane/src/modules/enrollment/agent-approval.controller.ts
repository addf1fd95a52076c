/** A technician's decision on an agent that enrolled with a token requiring approval. */
import { Controller, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Auth } from '../../common/auth/auth.decorator.js';
import { RequirePermission } from '../../common/auth/require-permission.decorator.js';
import type { Principal } from '../../common/auth/principal.js';
import { EnrollmentService } from './enrollment.service.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentApprovalController {
  constructor(private readonly enrollment: EnrollmentService) {}

  /** The agent gets its credentials on its next poll. */
  @Post(':id/approve')
  @HttpCode(200)
  @RequirePermission('agent:approve')
  approve(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.enrollment.approve(auth, id);
  }

  /** The agent never gets credentials; its next poll is refused. */
  @Post(':id/reject')
  @HttpCode(200)
  @RequirePermission('agent:approve')
  reject(@Auth() auth: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.enrollment.reject(auth, id);
  }
}
