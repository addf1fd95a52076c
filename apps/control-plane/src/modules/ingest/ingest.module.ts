import { Module } from '@nestjs/common';
import { AgentModule } from '../agents/agent.module.js';
import { JobProgressRepository } from '../dispatch/job-progress.repository.js';
import { AgentConfigPublisher } from './agent-config.publisher.js';
import { AgentSyncGrpcController } from './agent-sync.grpc.controller.js';
import { DeadLetterController } from './dead-letter.controller.js';
import { DownlinkPublisher } from './downlink.publisher.js';
import { IngestRepository } from './ingest.repository.js';
import { IngestService } from './ingest.service.js';
import { UplinkMqttController } from './uplink.mqtt.controller.js';

@Module({
  imports: [AgentModule],
  controllers: [UplinkMqttController, AgentSyncGrpcController, DeadLetterController],
  providers: [
    IngestService,
    IngestRepository,
    JobProgressRepository,
    DownlinkPublisher,
    AgentConfigPublisher,
  ],
  exports: [IngestService, DownlinkPublisher, AgentConfigPublisher],
})
export class IngestModule {}
