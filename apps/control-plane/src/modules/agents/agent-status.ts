/**
 * When an agent counts as silent: longer without a message than AGENT_SILENCE_INTERVALS of its health
 * interval plus AGENT_SILENCE_GRACE_SEC. The status shown (`offline`) and the silence alert use the same
 * rule, in TypeScript for one agent and in SQL for filtering and the sweep.
 */
import type { AppConfig } from '../../config/app-config.js';
import type { AgentStatus } from './agent.dto.js';
import type { AgentEntity } from './agent.entity.js';

export interface SilenceRule {
  intervals: number;
  graceSec: number;
}

export function silenceRule(config: AppConfig): SilenceRule {
  return { intervals: config.AGENT_SILENCE_INTERVALS, graceSec: config.AGENT_SILENCE_GRACE_SEC };
}

export function silenceThresholdSec(healthIntervalSec: number, rule: SilenceRule): number {
  return rule.intervals * healthIntervalSec + rule.graceSec;
}

export function agentStatus(
  agent: Pick<AgentEntity, 'revokedAt' | 'lastSeenAt' | 'healthIntervalSec' | 'approvalState'>,
  now: Date,
  rule: SilenceRule,
): AgentStatus {
  if (agent.revokedAt) return 'revoked';
  if (agent.approvalState === 'rejected') return 'rejected';
  if (agent.approvalState === 'pending') return 'pending';
  if (!agent.lastSeenAt) return 'never_seen';
  const silentMs = now.getTime() - agent.lastSeenAt.getTime();
  return silentMs <= silenceThresholdSec(agent.healthIntervalSec, rule) * 1000 ? 'online' : 'offline';
}

/** `a.`-prefixed SQL: the agent's silence threshold as an interval, with the rule's numbers as parameters. */
export function thresholdSql(intervalsParam: string, graceParam: string): string {
  return `((${intervalsParam})::integer * a.health_interval_sec + (${graceParam})::integer) * interval '1 second'`;
}

/** The same rule as agentStatus, in SQL (TypeORM named parameters `:silenceIntervals`, `:silenceGrace`). */
export function statusSql(status: AgentStatus): string {
  const threshold = thresholdSql(':silenceIntervals', ':silenceGrace');
  const active = `a.revoked_at IS NULL AND a.approval_state = 'approved'`;
  switch (status) {
    case 'revoked':
      return 'a.revoked_at IS NOT NULL';
    case 'rejected':
      return `a.revoked_at IS NULL AND a.approval_state = 'rejected'`;
    case 'pending':
      return `a.revoked_at IS NULL AND a.approval_state = 'pending'`;
    case 'never_seen':
      return `${active} AND a.last_seen_at IS NULL`;
    case 'online':
      return `${active} AND a.last_seen_at >= now() - ${threshold}`;
    case 'offline':
      return `${active} AND a.last_seen_at < now() - ${threshold}`;
  }
}
