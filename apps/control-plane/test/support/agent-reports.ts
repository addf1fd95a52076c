/**
 * What a real agent sends about its config and its jobs, sent by a test through the agent's own MQTT identity:
 * the config it applied (on `events`) and job progress (on `jobs/progress`), with the agent's seq counting up
 * after the inventory report (seq 1) every test sends first.
 */
import {
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  encodeEnvelope,
  uplinkTopic,
  type Envelope,
  type JobProgressBody,
} from '@medfleet/contracts';
import { eventually, expectOk, type EnrolledAgent, type TenantSession } from './tenant-session.js';

/** One message's type and body, as the contract pairs them. */
type Payload = Envelope extends infer E ? (E extends Envelope ? Pick<E, 'type' | 'body'> : never) : never;

export class AgentReports {
  private readonly seqs = new Map<string, number>();

  constructor(private readonly session: TenantSession) {}

  nextSeq(agent: EnrolledAgent): number {
    const seq = (this.seqs.get(agent.identity.agentId) ?? 1) + 1;
    this.seqs.set(agent.identity.agentId, seq);
    return seq;
  }

  /** Makes the next report go with the seq of the last one (an agent resending it); resolves to that seq. */
  reuseLastSeq(agent: EnrolledAgent): number {
    const seq = this.seqs.get(agent.identity.agentId) ?? 1;
    this.seqs.set(agent.identity.agentId, seq - 1);
    return seq;
  }

  /** Publishes one progress report; resolves to its seq (wait for its ack to know it was applied). */
  progress(agent: EnrolledAgent, body: JobProgressBody): Promise<number> {
    return this.publish(agent, 'jobs/progress', { type: MESSAGE_TYPES.jobProgress, body });
  }

  /** Reports the agent's desired config applied, as the real agent does, and waits until the API says so. */
  async applyConfig(agent: EnrolledAgent): Promise<void> {
    const api = this.session.api;
    const stored = await expectOk(api.get(`/agents/${agent.identity.agentId}/config`));
    const seq = await this.publish(agent, 'events', {
      type: MESSAGE_TYPES.configApplied,
      body: { version: stored.desiredVersion, appliedAt: new Date().toISOString() },
    });
    await agent.waitForAck(seq);
    await eventually(
      async () => (await expectOk(api.get(`/agents/${agent.identity.agentId}/config`))).state === 'applied',
    );
  }

  private async publish(
    agent: EnrolledAgent,
    stream: 'events' | 'jobs/progress',
    message: Payload,
  ): Promise<number> {
    const seq = this.nextSeq(agent);
    const envelope = {
      v: PROTOCOL_VERSION,
      agentId: agent.identity.agentId,
      seq,
      sentAt: new Date().toISOString(),
      ...message,
    } as Envelope;
    await agent.publishRaw(uplinkTopic(agent.identity, stream), encodeEnvelope(envelope));
    return seq;
  }
}
