/** MQTT topic scheme of protocol v1: building, parsing and the subscriptions the control plane uses. */
import { COMMAND_KINDS, UPLINK_STREAMS, type CommandKind, type UplinkStream } from './protocol.js';

export interface AgentAddress {
  tenantId: string;
  siteId: string;
  agentId: string;
}

export type ParsedTopic =
  | ({ direction: 'uplink'; stream: UplinkStream } & AgentAddress)
  | ({ direction: 'downlink'; kind: CommandKind } & AgentAddress);

const ROOT = 'medfleet/v1';
const SHARE_PREFIX = /^\$share\/[^/]+\//;
/** Ids in topics are UUIDs; anything else (wildcards, slashes, empty) is refused when building. */
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function assertId(name: string, value: string): void {
  if (!ID.test(value)) {
    throw new TypeError(`${name} must be a lowercase UUID, got ${JSON.stringify(value)}`);
  }
}

/** `medfleet/v1/t/{tenantId}/s/{siteId}/a/{agentId}`: every topic of one agent starts with it. */
export function agentTopicPrefix(address: AgentAddress): string {
  assertId('tenantId', address.tenantId);
  assertId('siteId', address.siteId);
  assertId('agentId', address.agentId);
  return `${ROOT}/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}`;
}

export function uplinkTopic(address: AgentAddress, stream: UplinkStream): string {
  return `${agentTopicPrefix(address)}/${stream}`;
}

export function downlinkTopic(address: AgentAddress, kind: CommandKind): string {
  return `${agentTopicPrefix(address)}/cmd/${kind}`;
}

/** Filter matching one stream of every agent, for the control plane's subscription. */
export function uplinkFilter(stream: UplinkStream): string {
  return `${ROOT}/t/+/s/+/a/+/${stream}`;
}

/** Filter matching every command addressed to one agent. */
export function commandFilter(address: AgentAddress): string {
  return `${agentTopicPrefix(address)}/cmd/+`;
}

/** Wraps a filter in an MQTT 5 shared subscription so control-plane replicas split the load. */
export function sharedSubscription(group: string, filter: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(group)) {
    throw new TypeError(`shared subscription group must be [A-Za-z0-9_-]+, got ${JSON.stringify(group)}`);
  }
  return `$share/${group}/${filter}`;
}

/** Parses a concrete topic (a `$share/<group>/` prefix is ignored); returns null when it is not ours. */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.replace(SHARE_PREFIX, '').split('/');
  if (parts.length < 9 || parts[0] !== 'medfleet' || parts[1] !== 'v1') return null;
  if (parts[2] !== 't' || parts[4] !== 's' || parts[6] !== 'a') return null;
  const [tenantId, siteId, agentId] = [parts[3] ?? '', parts[5] ?? '', parts[7] ?? ''];
  if (!ID.test(tenantId) || !ID.test(siteId) || !ID.test(agentId)) return null;
  const rest = parts.slice(8).join('/');
  if (rest.startsWith('cmd/')) {
    const kind = rest.slice(4);
    return (COMMAND_KINDS as readonly string[]).includes(kind)
      ? { direction: 'downlink', kind: kind as CommandKind, tenantId, siteId, agentId }
      : null;
  }
  return (UPLINK_STREAMS as readonly string[]).includes(rest)
    ? { direction: 'uplink', stream: rest as UplinkStream, tenantId, siteId, agentId }
    : null;
}
