/**
 * What the control plane tells the MQTT broker about agents: a new agent's credentials and topic rights at
 * enrollment, their removal at revocation. Only Mosquitto with the dynamic-security plugin needs to be
 * told (MQTT_DYNSEC=true); the embedded broker asks the database itself, and a plain external broker
 * without dynsec is configured by its operator, so for both this is a no-op.
 */
import { Injectable } from '@nestjs/common';
import type { AgentAddress } from '@medfleet/contracts';

export abstract class BrokerProvisioning {
  /** 'none': nothing to provision (embedded broker, or an external broker without dynsec). */
  abstract readonly kind: 'none' | 'dynsec';

  /**
   * Creates (or re-creates, idempotently) the agent's broker client: username = client id = agent id,
   * password = its secret, rights limited to its own topics. Throws when the broker did not confirm it.
   */
  abstract provisionAgent(address: AgentAddress, secret: string): Promise<void>;

  /**
   * Removes the agent's broker client, which also closes its connection. Never throws: a failure is
   * logged and retried in the background until the broker confirms it.
   */
  abstract deprovisionAgent(agentId: string): Promise<void>;
}

@Injectable()
export class NoopBrokerProvisioning extends BrokerProvisioning {
  readonly kind = 'none' as const;

  provisionAgent(): Promise<void> {
    return Promise.resolve();
  }

  deprovisionAgent(): Promise<void> {
    return Promise.resolve();
  }
}
