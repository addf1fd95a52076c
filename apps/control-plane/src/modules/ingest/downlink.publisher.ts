/** Publishes commands to agents (`cmd/ack`, `cmd/config`) with its own MQTT client, QoS 1. */
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import mqtt, { type MqttClient } from 'mqtt';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { BrokerEndpoint } from '../../infra/runtime.js';

@Injectable()
export class DownlinkPublisher implements OnModuleInit, OnModuleDestroy {
  private client: MqttClient | null = null;

  constructor(
    private readonly broker: BrokerEndpoint,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    this.client = await mqtt.connectAsync(this.broker.url, {
      clientId: `${this.config.mqttClientId}-out`,
      protocolVersion: this.config.embeddedBroker ? 4 : 5,
      username: this.broker.username,
      password: this.broker.password,
      clean: true,
      reconnectPeriod: 1000,
    });
  }

  /** `retain`: the broker keeps the message for whoever subscribes next (configs, not acks). */
  async publish(topic: string, payload: Buffer, options: { retain?: boolean } = {}): Promise<void> {
    if (!this.client) throw new Error('downlink publisher is not connected');
    await this.client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async onModuleDestroy(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
  }
}
