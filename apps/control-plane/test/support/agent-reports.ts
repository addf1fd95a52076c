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
  type JobProgressBody,
} from '@medfleet/contracts';
import { eventually, expectOk, type EnrolledAgent, type TenantSession } from './tenant-session.js';

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
  async progress(agent: EnrolledAgent, body: JobProgressBody): Promise<number> {
    const seq = this.nextSeq(agent);
    const envelope = {
      v: PROTOCOL_VERSION,
      agentId: agent.identity.agentId,
      seq,
      sentAt: new Date().toISOString(),
      type: MESSAGE_TYPES.jobProgress,
      body,
    };
    await agent.publishRaw(uplinkTopic(agent.identity, 'jobs/progress'), encodeEnvelope(envelope));
    return seq;
  }

  /** Reports the agent's desired config applied, as the real agent does, and waits until the API says so. */
  async applyConfig(agent: EnrolledAgent): Promise<void> {
    const api = this.session.api;
    const stored = await expectOk(api.get(`/agents/${agent.identity.agentId}/config`));
    const seq = this.nextSeq(agent);
    const envelope = {
      v: PROTOCOL_VERSION,
      agentId: agent.identity.agentId,
      seq,
      sentAt: new Date().toISOString(),
      type: MESSAGE_TYPES.configApplied,
      body: { version: stored.desiredVersion, appliedAt: new Date().toISOString() },
    };
    await agent.publishRaw(uplinkTopic(agent.identity, 'events'), encodeEnvelope(envelope));
    await agent.waitForAck(seq);
    await eventually(
      async () => (await expectOk(api.get(`/agents/${agent.identity.agentId}/config`))).state === 'applied',
    );
  }
}
