import { Module } from '@nestjs/common';
import { DeadLetterController } from './dead-letter.controller.js';
import { DownlinkPublisher } from './downlink.publisher.js';
import { IngestRepository } from './ingest.repository.js';
import { IngestService } from './ingest.service.js';
import { UplinkMqttController } from './uplink.mqtt.controller.js';

@Module({
  controllers: [UplinkMqttController, DeadLetterController],
  providers: [IngestService, IngestRepository, DownlinkPublisher],
  exports: [IngestService, DownlinkPublisher],
})
export class IngestModule {}
