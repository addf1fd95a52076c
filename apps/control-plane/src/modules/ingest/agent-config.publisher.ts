/**
 * Sends an agent its desired config on `cmd/config`: QoS 1 and retained, so the broker hands it over
 * again whenever the agent (re)subscribes, which it does on every connect. Sent after a change through the
 * API and again when the agent reports running an older version.
 */
import { Injectable, Logger } from '@nestjs/common';
import {
  downlinkTopic,
  encodeEnvelope,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  type AgentAddress,
  type ConfigEnvelope,
} from '@medfleet/contracts';
import { TenantDb } from '../../database/tenant-db.js';
import { AgentConfigRepository } from '../agents/agent-config.repository.js';
import { DownlinkPublisher } from './downlink.publisher.js';

@Injectable()
export class AgentConfigPublisher {
  private readonly logger = new Logger(AgentConfigPublisher.name);

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly configs: AgentConfigRepository,
    private readonly downlink: DownlinkPublisher,
  ) {}

  /**
   * Publishes the agent's current desired config (whatever it is by now, so racing changes converge on
   * the newest); resolves to its version, or null when there is none or the broker did not take it.
   * Never throws: a config not published goes out when the agent next reports an older version.
   */
  async publish(address: AgentAddress): Promise<number | null> {
    const scope = { organizationId: null, tenantIds: [address.tenantId] };
    const key = { tenantId: address.tenantId, agentId: address.agentId };
    try {
      const desired = await this.tenantDb.run(scope, (tx) => this.configs.desired(tx, key));
      if (!desired) return null;
      const envelope: ConfigEnvelope = {
        v: PROTOCOL_VERSION,
        agentId: address.agentId,
        seq: desired.version,
        sentAt: new Date().toISOString(),
        type: MESSAGE_TYPES.config,
        body: desired.config,
      };
      await this.downlink.publish(downlinkTopic(address, 'config'), encodeEnvelope(envelope), {
        retain: true,
      });
      await this.tenantDb.run(scope, (tx) => this.configs.markPublished(tx, key, desired.version));
      this.logger.log({ msg: 'config published', agentId: address.agentId, version: desired.version });
      return desired.version;
    } catch (error) {
      this.logger.warn({ msg: 'config not published', agentId: address.agentId, err: String(error) });
      return null;
    }
  }
}
