/**
 * Mosquitto dynamic-security: the roles protocol v1 needs, as data. One role per agent (publish only its
 * own uplink streams, subscribe and receive only its own `cmd/+`) and one role for the control plane's
 * own client (shared subscriptions on every agent's uplinks, publishing on every agent's `cmd/#`).
 */
import { UPLINK_STREAMS, agentTopicPrefix, type AgentAddress } from '@medfleet/contracts';

export type DynsecAclType =
  | 'publishClientSend'
  | 'publishClientReceive'
  | 'subscribeLiteral'
  | 'subscribePattern'
  | 'unsubscribeLiteral'
  | 'unsubscribePattern';

export interface DynsecAcl {
  acltype: DynsecAclType;
  topic: string;
  allow: boolean;
  /** Higher first; within one role, our allows outrank the catch-all deny. */
  priority: number;
}

export const CONTROL_PLANE_ROLE = 'medfleet-control-plane';
const ROOT = 'medfleet/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Agent ids become dynsec usernames and client ids. Only lowercase UUIDs are accepted: never `#`, `+` or
 * `/`, which a broker could read as wildcards or levels (the Mosquitto CVE-2017-7650 trap). Dynsec itself
 * accepts such usernames, so this is the check that matters.
 */
export function assertAgentUsername(agentId: string): void {
  if (!UUID.test(agentId)) {
    throw new TypeError('an MQTT username / client id must be a lowercase UUID (no #, + or /)');
  }
}

export const agentRoleName = (agentId: string): string => {
  assertAgentUsername(agentId);
  return `medfleet-agent-${agentId}`;
};

export function agentAcls(address: AgentAddress): DynsecAcl[] {
  const prefix = agentTopicPrefix(address);
  return [
    ...UPLINK_STREAMS.map((stream): DynsecAcl => ({
      acltype: 'publishClientSend',
      topic: `${prefix}/${stream}`,
      allow: true,
      priority: 1,
    })),
    { acltype: 'subscribePattern', topic: `${prefix}/cmd/+`, allow: true, priority: 1 },
    { acltype: 'publishClientReceive', topic: `${prefix}/cmd/+`, allow: true, priority: 1 },
    // The plugin's default lets every client receive whatever it is subscribed to; an agent receives
    // nothing but its own commands.
    { acltype: 'publishClientReceive', topic: '#', allow: false, priority: 0 },
  ];
}

/**
 * Mosquitto checks a shared subscription with its `$share/<group>/` prefix, so the control plane's
 * uplink subscriptions are allowed for any group, and also plainly (one consumer without a group).
 */
export function controlPlaneAcls(): DynsecAcl[] {
  return [
    ...UPLINK_STREAMS.flatMap((stream): DynsecAcl[] => [
      {
        acltype: 'subscribePattern',
        topic: `$share/+/${ROOT}/t/+/s/+/a/+/${stream}`,
        allow: true,
        priority: 1,
      },
      { acltype: 'subscribePattern', topic: `${ROOT}/t/+/s/+/a/+/${stream}`, allow: true, priority: 1 },
      { acltype: 'publishClientReceive', topic: `${ROOT}/t/+/s/+/a/+/${stream}`, allow: true, priority: 1 },
    ]),
    { acltype: 'publishClientSend', topic: `${ROOT}/t/+/s/+/a/+/cmd/#`, allow: true, priority: 1 },
  ];
}
