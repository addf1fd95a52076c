/**
 * Nest's MQTT transport, adapted to protocol v1: handlers receive the raw payload bytes (so size, UTF-8
 * and JSON are checked by the contracts, not swallowed by the transport), and event subscriptions are
 * made as MQTT 5 shared subscriptions when the broker has them, so replicas split the load.
 */
import { MqttContext, ServerMqtt, type MqttOptions } from '@nestjs/microservices';
import { sharedSubscription } from '@medfleet/contracts';

type MqttClient = {
  connected: boolean;
  on(
    event: 'message',
    handler: (topic: string, payload: Buffer, packet: Record<string, unknown>) => void,
  ): void;
  on(event: 'connect', handler: () => void): void;
  subscribe(topic: string, options: Record<string, unknown>): void;
};

export interface MedfleetMqttOptions {
  /** Subscribe as `$share/<group>/<filter>`; null on a broker without shared subscriptions (Aedes). */
  shareGroup: string | null;
  mqtt: Required<MqttOptions>['options'];
}

export class MedfleetMqttServer extends ServerMqtt {
  constructor(private readonly medfleet: MedfleetMqttOptions) {
    super(medfleet.mqtt);
  }

  override bindEvents(mqttClient: MqttClient): void {
    mqttClient.on('message', (topic, payload, packet) => {
      void this.handleMessage(topic, payload, mqttClient, packet).catch((error: unknown) =>
        this.handleError(String(error)),
      );
    });
    // Subscribe on every connection, not once: a broker that restarts may keep the session but not its
    // shared subscriptions (Mosquitto 2.0 then answers "no matching subscribers").
    const subscribe = () => {
      for (const pattern of this.messageHandlers.keys()) {
        const filter = this.medfleet.shareGroup
          ? sharedSubscription(this.medfleet.shareGroup, pattern)
          : pattern;
        mqttClient.subscribe(filter, { qos: 1 });
      }
    };
    mqttClient.on('connect', subscribe);
    if (mqttClient.connected) subscribe();
  }

  override async handleMessage(
    channel: string,
    buffer: Buffer,
    _pub: unknown,
    originalPacket?: Record<string, unknown>,
  ): Promise<unknown> {
    const context = new MqttContext([channel, originalPacket as never]);
    return this.handleEvent(channel, { pattern: channel, data: buffer }, context);
  }
}
