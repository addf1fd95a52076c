/** Device-facing: the uplink streams agents publish over MQTT. Thin: everything happens in IngestService. */
import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MqttContext, Payload } from '@nestjs/microservices';
import { uplinkFilter } from '@medfleet/contracts';
import { IngestService } from './ingest.service.js';

@Controller()
export class UplinkMqttController {
  constructor(private readonly ingest: IngestService) {}

  @EventPattern<string>(uplinkFilter('inventory'))
  async inventory(@Payload() payload: Buffer, @Ctx() context: MqttContext): Promise<void> {
    await this.ingest.handle(context.getTopic(), payload);
  }

  @EventPattern<string>(uplinkFilter('health'))
  async health(@Payload() payload: Buffer, @Ctx() context: MqttContext): Promise<void> {
    await this.ingest.handle(context.getTopic(), payload);
  }

  @EventPattern<string>(uplinkFilter('events'))
  async events(@Payload() payload: Buffer, @Ctx() context: MqttContext): Promise<void> {
    await this.ingest.handle(context.getTopic(), payload);
  }

  @EventPattern<string>(uplinkFilter('jobs/progress'))
  async jobProgress(@Payload() payload: Buffer, @Ctx() context: MqttContext): Promise<void> {
    await this.ingest.handle(context.getTopic(), payload);
  }
}
