/**
 * Ingest of agent messages: validate against the contracts, commit exactly once per (agent, seq), answer
 * with the highest contiguous committed seq on `cmd/ack`, and dead-letter whatever is refused. It never
 * throws: a refused message is kept with its reason, and a failure to commit leaves the message unacked,
 * so the agent sends it again.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  decodeEnvelope,
  downlinkTopic,
  encodeEnvelope,
  healthEnvelopeSchema,
  inventoryEnvelopeSchema,
  parseTopic,
  eventEnvelopeSchema,
  type AgentAddress,
  type RejectReason,
  type UplinkEnvelope,
} from '@medfleet/contracts';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { TenantDb } from '../../database/tenant-db.js';
import { DownlinkPublisher } from './downlink.publisher.js';
import { IngestRepository } from './ingest.repository.js';

export type IngestOutcome =
  | { status: 'applied'; ackedSeq: number }
  | { status: 'replayed'; ackedSeq: number }
  | { status: 'dead_lettered'; reason: RejectReason; ackedSeq?: number }
  | { status: 'failed'; error: string };

const SCHEMAS = {
  inventory: inventoryEnvelopeSchema,
  health: healthEnvelopeSchema,
  events: eventEnvelopeSchema,
} as const;
type ConsumedStream = keyof typeof SCHEMAS;

class Refusal extends Error {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly repository: IngestRepository,
    private readonly downlink: DownlinkPublisher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Counts of outcomes since start (`applied`, `replayed`, `dead_lettered:<REASON>`, `failed`). */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  async handle(topic: string, payload: Uint8Array): Promise<IngestOutcome> {
    const outcome = await this.process(topic, payload);
    const key = outcome.status === 'dead_lettered' ? `dead_lettered:${outcome.reason}` : outcome.status;
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
    if (outcome.status === 'dead_lettered') {
      this.logger.warn({ msg: 'message dead-lettered', topic, reason: outcome.reason });
    }
    return outcome;
  }

  private async process(topic: string, payload: Uint8Array): Promise<IngestOutcome> {
    const address = parseTopic(topic);
    if (!address || address.direction !== 'uplink' || !(address.stream in SCHEMAS)) {
      return this.deadLetterAlone(
        topic,
        payload,
        null,
        'UNKNOWN_TOPIC',
        'not an uplink stream this control plane consumes',
      );
    }
    const stream = address.stream as ConsumedStream;
    const decoded = decodeEnvelope(payload, SCHEMAS[stream], this.config.INGEST_MAX_PAYLOAD_BYTES);

    if (decoded.ok && decoded.message.agentId !== address.agentId) {
      return this.deadLetterAlone(
        topic,
        payload,
        address,
        'AGENT_MISMATCH',
        `envelope agentId ${decoded.message.agentId} published under agent ${address.agentId}'s topic`,
      );
    }
    // A refused message whose header names this agent and a seq is committed as dead-lettered under that
    // seq, so the agent's ack moves past it instead of retrying it forever.
    const seq = decoded.ok
      ? decoded.message.seq
      : decoded.agentId === address.agentId
        ? decoded.seq
        : undefined;
    if (!decoded.ok && seq === undefined) {
      return this.deadLetterAlone(topic, payload, address, decoded.reason, decoded.detail);
    }

    if (decoded.ok && decoded.message.type === MESSAGE_TYPES.seqGap) {
      const own = decoded.message.seq;
      if (decoded.message.body.ranges.some((range) => range.toSeq >= own)) {
        return this.deadLetterAlone(
          topic,
          payload,
          address,
          'SCHEMA_INVALID',
          'a gap must lie before its report',
          own,
        );
      }
    }
    const content = decoded.ok ? decoded.message : { reason: decoded.reason, detail: decoded.detail };
    return this.commit(address, stream, seq as number, content, topic, payload);
  }

  /**
   * Commits one agent message under its seq, exactly once: the message applied, or its refusal recorded.
   * Shared by MQTT ingest and the gRPC AgentSync upload.
   */
  async commit(
    address: AgentAddress,
    stream: string,
    seq: number,
    content: UplinkEnvelope | { reason: RejectReason; detail: string },
    topic: string,
    payload: Uint8Array,
  ): Promise<IngestOutcome> {
    try {
      const result = await this.tenantDb.run(
        { organizationId: null, tenantIds: [address.tenantId] },
        async (tx) => {
          const agent = await this.repository.lockAgent(tx, address.tenantId, address.agentId);
          if (!agent || agent.revoked)
            throw new Refusal('UNKNOWN_AGENT', 'no enrolled, unrevoked agent at this topic');
          if (agent.siteId !== address.siteId) {
            throw new Refusal(
              'AGENT_MISMATCH',
              `agent ${address.agentId} does not belong to site ${address.siteId}`,
            );
          }
          const key = { tenantId: address.tenantId, agentId: address.agentId, seq };
          let status: 'applied' | 'replayed' | 'dead_lettered';
          if ('type' in content) {
            const fresh = await this.repository.recordMessage(tx, key, stream, 'applied', content.sentAt);
            if (fresh) await this.apply(tx, address, content);
            status = fresh ? 'applied' : 'replayed';
          } else {
            const fresh = await this.repository.recordMessage(tx, key, stream, 'dead_lettered', null);
            if (fresh) {
              await this.repository.deadLetter(tx.db, {
                claimedTenantId: address.tenantId,
                claimedAgentId: address.agentId,
                seq,
                topic,
                reason: content.reason,
                detail: content.detail,
                payload,
              });
            }
            status = fresh ? 'dead_lettered' : 'replayed';
          }
          const ack = await this.repository.advanceAck(
            tx,
            address.tenantId,
            address.agentId,
            agent.ackedSeq,
            status === 'applied' ? 1 : 0,
          );
          return { status, ack };
        },
      );
      this.sendAck(address, result.ack);
      if (result.status === 'dead_lettered' && !('type' in content)) {
        return { status: 'dead_lettered', reason: content.reason, ackedSeq: result.ack.ackedSeq };
      }
      return { status: result.status === 'applied' ? 'applied' : 'replayed', ackedSeq: result.ack.ackedSeq };
    } catch (error) {
      if (error instanceof Refusal)
        return this.deadLetterAlone(topic, payload, address, error.reason, error.detail, seq);
      this.logger.error({ msg: 'ingest failed; the agent will resend', topic, err: String(error) });
      return { status: 'failed', error: String(error) };
    }
  }

  private async apply(
    tx: Parameters<IngestRepository['upsertDevices']>[0],
    address: AgentAddress,
    envelope: UplinkEnvelope,
  ): Promise<void> {
    switch (envelope.type) {
      case MESSAGE_TYPES.inventory:
        await this.repository.upsertDevices(tx, address, envelope.body.devices);
        return;
      case MESSAGE_TYPES.health:
        await this.repository.saveHealth(tx, address.tenantId, address.agentId, envelope.body);
        return;
      case MESSAGE_TYPES.recovered:
        // The start of post-storm verification: kept per agent, listed at GET /agents/:id/events.
        await this.repository.saveEvent(
          tx,
          { tenantId: address.tenantId, agentId: address.agentId, seq: envelope.seq },
          envelope.type,
          envelope.body.detectedAt,
          envelope.body,
        );
        this.logger.warn({
          msg: 'agent recovered from an unclean shutdown',
          agentId: address.agentId,
          rebooted: envelope.body.rebooted,
        });
        return;
      case MESSAGE_TYPES.seqGap: {
        const skipped = await this.repository.skipSeqs(
          tx,
          address.tenantId,
          address.agentId,
          envelope.body.ranges,
        );
        this.logger.warn({
          msg: 'agent declared lost seqs',
          agentId: address.agentId,
          reason: envelope.body.reason,
          skipped,
        });
        return;
      }
    }
  }

  private sendAck(address: AgentAddress, ack: { ackedSeq: number; downlinkSeq: number }): void {
    if (ack.ackedSeq === 0) return;
    const envelope = {
      v: PROTOCOL_VERSION,
      agentId: address.agentId,
      seq: ack.downlinkSeq,
      sentAt: new Date().toISOString(),
      type: MESSAGE_TYPES.ack,
      body: { ackedSeq: ack.ackedSeq },
    };
    // Acks are best effort: a lost ack only makes the agent send again, which is answered as a replay.
    this.downlink.publish(downlinkTopic(address, 'ack'), encodeEnvelope(envelope)).catch((error: unknown) => {
      this.logger.warn({ msg: 'ack not published', agentId: address.agentId, err: String(error) });
    });
  }

  private async deadLetterAlone(
    topic: string,
    payload: Uint8Array,
    address: AgentAddress | null,
    reason: RejectReason,
    detail: string,
    seq?: number,
  ): Promise<IngestOutcome> {
    try {
      await this.tenantDb.unscoped((db) =>
        this.repository.deadLetter(db, {
          claimedTenantId: address?.tenantId ?? null,
          claimedAgentId: address?.agentId ?? null,
          seq: seq ?? null,
          topic,
          reason,
          detail,
          payload,
        }),
      );
    } catch (error) {
      this.logger.error({ msg: 'dead letter not stored', topic, reason, err: String(error) });
      return { status: 'failed', error: String(error) };
    }
    return { status: 'dead_lettered', reason };
  }
}
