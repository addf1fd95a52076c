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
  jobProgressEnvelopeSchema,
  parseTopic,
  eventEnvelopeSchema,
  type AgentAddress,
  type JobProgressBody,
  type RejectReason,
  type JobProgressEnvelope,
  type UplinkEnvelope as WireUplinkEnvelope,
} from '@medfleet/contracts';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { AgentConfigRepository } from '../agents/agent-config.repository.js';
import { AuditService } from '../audit/audit.service.js';
import { JobProgressRepository } from '../dispatch/job-progress.repository.js';
import { AgentConfigPublisher } from './agent-config.publisher.js';
import { DownlinkPublisher } from './downlink.publisher.js';
import { IngestRepository } from './ingest.repository.js';
import { PerAgentQueue } from './per-agent-queue.js';

/** Every envelope this control plane consumes on the uplink (job progress included). */
export type UplinkEnvelope = WireUplinkEnvelope | JobProgressEnvelope;

/** Refusals of a valid message that names something not the agent's (a job of another agent or tenant). */
export type ApplyRefusalReason = 'UNKNOWN_JOB' | 'JOB_AGENT_MISMATCH';

export type IngestOutcome =
  | { status: 'applied'; ackedSeq: number }
  | { status: 'replayed'; ackedSeq: number }
  | { status: 'dead_lettered'; reason: RejectReason | ApplyRefusalReason; ackedSeq?: number }
  | { status: 'failed'; error: string };

/** A validated message waiting to be committed under its agent's seq. */
export interface PendingMessage {
  address: AgentAddress;
  stream: string;
  seq: number;
  content: UplinkEnvelope | { reason: RejectReason; detail: string };
  topic: string;
  payload: Uint8Array;
  /** When the control plane received it; goes back in the ack so the agent can estimate its clock offset. */
  receivedAt?: Date;
}

/**
 * Most messages of one agent committed per transaction. A replayed backlog arrives faster than one
 * transaction per message can take it; larger batches hold the agent's row lock longer.
 */
const INGEST_BATCH_MAX = 200;

const SCHEMAS = {
  inventory: inventoryEnvelopeSchema,
  health: healthEnvelopeSchema,
  events: eventEnvelopeSchema,
  'jobs/progress': jobProgressEnvelopeSchema,
} as const;
type ConsumedStream = keyof typeof SCHEMAS;

/** An agent's config is sent again at most this often while it reports an older version. */
const CONFIG_REPUBLISH_QUIET_SEC = 15;
const SYSTEM_ACTOR = { kind: 'system', id: null, display: 'control plane' };

/** What applying a message asks for once its transaction committed. */
interface AfterCommit {
  republishConfig?: boolean;
}

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
  /** One queue per agent: its messages commit in arrival order, many per transaction. */
  private readonly queue = new PerAgentQueue<PendingMessage, IngestOutcome>(
    (message) => `${message.address.tenantId}/${message.address.siteId}/${message.address.agentId}`,
    (batch) => this.commitBatch(batch),
    INGEST_BATCH_MAX,
  );

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly repository: IngestRepository,
    private readonly downlink: DownlinkPublisher,
    private readonly configs: AgentConfigRepository,
    private readonly configPublisher: AgentConfigPublisher,
    private readonly audit: AuditService,
    private readonly jobProgress: JobProgressRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Counts of outcomes since start (`applied`, `replayed`, `dead_lettered:<REASON>`, `failed`). */
  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  async handle(topic: string, payload: Uint8Array): Promise<IngestOutcome> {
    const outcome = await this.process(topic, payload, new Date());
    const key = outcome.status === 'dead_lettered' ? `dead_lettered:${outcome.reason}` : outcome.status;
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
    if (outcome.status === 'dead_lettered') {
      this.logger.warn({ msg: 'message dead-lettered', topic, reason: outcome.reason });
    }
    return outcome;
  }

  private async process(topic: string, payload: Uint8Array, receivedAt: Date): Promise<IngestOutcome> {
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
    return this.queue.submit({ address, stream, seq: seq as number, content, topic, payload, receivedAt });
  }

  /**
   * Commits one agent message under its seq, exactly once: the message applied, or its refusal recorded.
   * Used by the gRPC AgentSync upload; MQTT ingest goes through the per-agent queue into `commitBatch`.
   */
  async commit(
    address: AgentAddress,
    stream: string,
    seq: number,
    content: UplinkEnvelope | { reason: RejectReason; detail: string },
    topic: string,
    payload: Uint8Array,
  ): Promise<IngestOutcome> {
    const [outcome] = await this.commitBatch([{ address, stream, seq, content, topic, payload }]);
    return outcome as IngestOutcome;
  }

  /**
   * Commits messages of ONE agent (same tenant, site and agent), in the order given, in one transaction:
   * the agent row is locked once, each message recorded (exactly once per seq) and applied or dead-lettered,
   * and the contiguous ack advanced and sent once. Should the transaction fail, each message is tried on
   * its own, so one message that cannot be committed holds back only itself.
   */
  async commitBatch(messages: readonly PendingMessage[]): Promise<IngestOutcome[]> {
    const first = messages[0];
    if (!first) return [];
    const address = first.address;
    const last = messages.at(-1) as PendingMessage;
    const receivedAt = last.receivedAt ?? new Date();
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
          const statuses: ('applied' | 'replayed' | 'dead_lettered')[] = [];
          const refusals: (ApplyRefusalReason | undefined)[] = [];
          let republishConfig = false;
          for (const message of messages) {
            const { content, seq, stream } = message;
            const key = { tenantId: address.tenantId, agentId: address.agentId, seq };
            const refusal =
              'type' in content && content.type === MESSAGE_TYPES.jobProgress
                ? await this.jobProgressRefusal(tx, address, content.body)
                : null;
            refusals.push(refusal?.reason);
            if (refusal) {
              const fresh = await this.repository.recordMessage(tx, key, stream, 'dead_lettered', null);
              if (fresh) {
                await this.repository.deadLetter(tx.db, {
                  claimedTenantId: address.tenantId,
                  claimedAgentId: address.agentId,
                  seq,
                  topic: message.topic,
                  reason: refusal.reason,
                  detail: refusal.detail,
                  payload: message.payload,
                });
              }
              statuses.push(fresh ? 'dead_lettered' : 'replayed');
            } else if ('type' in content) {
              const fresh = await this.repository.recordMessage(tx, key, stream, 'applied', content.sentAt);
              if (fresh) {
                const after = await this.apply(tx, address, content);
                republishConfig ||= after.republishConfig === true;
              }
              statuses.push(fresh ? 'applied' : 'replayed');
            } else {
              const fresh = await this.repository.recordMessage(tx, key, stream, 'dead_lettered', null);
              if (fresh) {
                await this.repository.deadLetter(tx.db, {
                  claimedTenantId: address.tenantId,
                  claimedAgentId: address.agentId,
                  seq,
                  topic: message.topic,
                  reason: content.reason,
                  detail: content.detail,
                  payload: message.payload,
                });
              }
              statuses.push(fresh ? 'dead_lettered' : 'replayed');
            }
          }
          const ack = await this.repository.advanceAck(
            tx,
            address.tenantId,
            address.agentId,
            agent.ackedSeq,
            statuses.filter((status) => status === 'applied').length,
          );
          await this.resolveSilence(tx, address);
          return { statuses, refusals, ack, republishConfig };
        },
      );
      this.sendAck(address, result.ack, last.seq, receivedAt);
      if (result.republishConfig) void this.configPublisher.publish(address);
      const ackedSeq = result.ack.ackedSeq;
      return messages.map((message, index): IngestOutcome => {
        const status = result.statuses[index];
        const refused = result.refusals[index];
        if (status === 'dead_lettered' && refused)
          return { status: 'dead_lettered', reason: refused, ackedSeq };
        if (status === 'dead_lettered' && !('type' in message.content)) {
          return { status: 'dead_lettered', reason: message.content.reason, ackedSeq };
        }
        return { status: status === 'applied' ? 'applied' : 'replayed', ackedSeq };
      });
    } catch (error) {
      if (error instanceof Refusal) {
        return Promise.all(
          messages.map((message) =>
            this.deadLetterAlone(
              message.topic,
              message.payload,
              address,
              error.reason,
              error.detail,
              message.seq,
            ),
          ),
        );
      }
      if (messages.length > 1) {
        this.logger.warn({
          msg: 'batch commit failed; committing its messages one by one',
          agentId: address.agentId,
          messages: messages.length,
          err: String(error),
        });
        const outcomes: IngestOutcome[] = [];
        for (const message of messages) outcomes.push(...(await this.commitBatch([message])));
        return outcomes;
      }
      this.logger.error({
        msg: 'ingest failed; the agent will resend',
        topic: first.topic,
        err: String(error),
      });
      return [{ status: 'failed', error: String(error) }];
    }
  }

  /** The agent spoke: an open silence alert is closed, and the closing audited. */
  private async resolveSilence(tx: TenantTx, address: AgentAddress): Promise<void> {
    const resolved = await this.repository.resolveSilenceAlerts(tx, address.tenantId, address.agentId);
    for (const alert of resolved) {
      await this.audit.record(tx, {
        action: 'agent.alert_resolve',
        actor: SYSTEM_ACTOR,
        tenantId: address.tenantId,
        target: { type: 'agent_alert', id: alert.id },
        details: { agentId: address.agentId, kind: 'agent_silent', openedAt: alert.openedAt },
      });
      this.logger.log({ msg: 'agent reported again: silence alert resolved', agentId: address.agentId });
    }
  }

  /** Why a progress report is not this agent's to make (dead-lettered), or null when it may be applied. */
  private async jobProgressRefusal(
    tx: TenantTx,
    address: AgentAddress,
    body: JobProgressBody,
  ): Promise<{ reason: ApplyRefusalReason; detail: string } | null> {
    const target = await this.jobProgress.lockTarget(tx, address, body);
    return 'reason' in target ? target : null;
  }

  private async apply(tx: TenantTx, address: AgentAddress, envelope: UplinkEnvelope): Promise<AfterCommit> {
    const key = { tenantId: address.tenantId, agentId: address.agentId };
    switch (envelope.type) {
      case MESSAGE_TYPES.inventory:
        await this.repository.upsertDevices(tx, address, envelope.body.devices);
        return {};
      case MESSAGE_TYPES.health: {
        await this.repository.saveHealth(tx, address.tenantId, address.agentId, envelope.seq, envelope.body);
        const running = envelope.body.configVersion;
        // Agents too old to report their config version are left alone.
        const republishConfig =
          running !== undefined &&
          (await this.configs.needsRepublish(
            tx,
            key,
            running,
            CONFIG_REPUBLISH_QUIET_SEC,
            // When the agent process started, by this control plane's clock.
            new Date(Date.now() - envelope.body.uptimeSec * 1000),
          ));
        return { republishConfig };
      }
      case MESSAGE_TYPES.configApplied: {
        const known = await this.configs.recordApplied(
          tx,
          key,
          envelope.body.version,
          envelope.body.appliedAt,
        );
        await this.repository.saveEvent(
          tx,
          { ...key, seq: envelope.seq },
          envelope.type,
          envelope.body.appliedAt,
          envelope.body,
        );
        if (!known) {
          this.logger.warn({
            msg: 'agent applied a config version this control plane never set',
            agentId: address.agentId,
            version: envelope.body.version,
          });
        }
        return {};
      }
      case MESSAGE_TYPES.configRejected: {
        if (envelope.body.version > 0) await this.configs.recordRejected(tx, key, envelope.body);
        await this.repository.saveEvent(
          tx,
          { ...key, seq: envelope.seq },
          envelope.type,
          envelope.body.rejectedAt,
          envelope.body,
        );
        this.logger.warn({
          msg: 'agent rejected a config',
          agentId: address.agentId,
          version: envelope.body.version,
          reason: envelope.body.reason,
        });
        return {};
      }
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
        return {};
      case MESSAGE_TYPES.jobProgress: {
        const target = await this.jobProgress.lockTarget(tx, address, envelope.body);
        // Checked before the message was recorded, under the same lock; a refusal here cannot happen.
        if ('reason' in target) return {};
        const state = await this.jobProgress.apply(tx, address.tenantId, target, envelope.seq, envelope.body);
        if (state) {
          this.logger.log({
            msg: 'job progressed',
            agentId: address.agentId,
            jobId: target.jobId,
            state,
            reported: envelope.body.state,
          });
        }
        return {};
      }
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
        return {};
      }
    }
  }

  /** The ack names the (last) message it answers and when that arrived; its `sentAt` is when it leaves. */
  private sendAck(
    address: AgentAddress,
    ack: { ackedSeq: number; downlinkSeq: number },
    forSeq: number,
    receivedAt: Date,
  ): void {
    if (ack.ackedSeq === 0) return;
    const envelope = {
      v: PROTOCOL_VERSION,
      agentId: address.agentId,
      seq: ack.downlinkSeq,
      sentAt: new Date().toISOString(),
      type: MESSAGE_TYPES.ack,
      body: { ackedSeq: ack.ackedSeq, forSeq, receivedAt: receivedAt.toISOString() },
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
    reason: RejectReason | ApplyRefusalReason,
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
