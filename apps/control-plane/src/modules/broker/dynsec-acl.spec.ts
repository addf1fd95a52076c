import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/app-config.js';
import { agentAcls, agentRoleName, assertAgentUsername, controlPlaneAcls } from './dynsec-acl.js';

const address = {
  tenantId: '11111111-1111-4111-8111-111111111111',
  siteId: '22222222-2222-4222-8222-222222222222',
  agentId: '33333333-3333-4333-8333-333333333333',
};
const prefix = `medfleet/v1/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}`;

describe('dynamic-security roles', () => {
  it('lets an agent publish its own uplink streams only and subscribe/receive its own cmd/+ only', () => {
    const acls = agentAcls(address);
    expect(acls.filter((acl) => acl.acltype === 'publishClientSend').map((acl) => acl.topic)).toEqual(
      ['inventory', 'health', 'flows', 'events', 'jobs/progress'].map((stream) => `${prefix}/${stream}`),
    );
    expect(acls.filter((acl) => acl.acltype === 'subscribePattern')).toEqual([
      { acltype: 'subscribePattern', topic: `${prefix}/cmd/+`, allow: true, priority: 1 },
    ]);
    expect(acls.filter((acl) => acl.acltype === 'publishClientReceive')).toEqual([
      { acltype: 'publishClientReceive', topic: `${prefix}/cmd/+`, allow: true, priority: 1 },
      { acltype: 'publishClientReceive', topic: '#', allow: false, priority: 0 },
    ]);
    expect(acls.every((acl) => !acl.allow || acl.topic.startsWith(prefix))).toBe(true);
  });

  it('lets the control plane subscribe shared to uplinks and publish commands', () => {
    const acls = controlPlaneAcls();
    expect(acls).toContainEqual({
      acltype: 'subscribePattern',
      topic: '$share/+/medfleet/v1/t/+/s/+/a/+/inventory',
      allow: true,
      priority: 1,
    });
    expect(acls.filter((acl) => acl.acltype === 'publishClientSend').map((acl) => acl.topic)).toEqual([
      'medfleet/v1/t/+/s/+/a/+/cmd/#',
    ]);
  });

  it('refuses usernames and client ids that are not UUIDs (#, +, / — CVE-2017-7650)', () => {
    for (const bad of ['#', '+', 'a/b', `${address.agentId}/#`, `${address.agentId}+`, '', 'ABC']) {
      expect(() => assertAgentUsername(bad)).toThrow(TypeError);
      expect(() => agentRoleName(bad)).toThrow(TypeError);
    }
    expect(() => agentAcls({ ...address, agentId: '+' })).toThrow(TypeError);
    expect(agentRoleName(address.agentId)).toBe(`medfleet-agent-${address.agentId}`);
  });

  it('MQTT_DYNSEC needs an external broker and its admin credentials', () => {
    expect(() => loadConfig({ MQTT_DYNSEC: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ MQTT_DYNSEC: 'true', MQTT_URL: 'mqtt://127.0.0.1:1883' })).toThrow(
      /MQTT_USERNAME.*MQTT_PASSWORD/,
    );
    const config = loadConfig({
      MQTT_DYNSEC: 'true',
      MQTT_URL: 'mqtt://127.0.0.1:1883',
      MQTT_USERNAME: 'admin',
      MQTT_PASSWORD: 'secret',
    });
    expect(config.MQTT_DYNSEC).toBe(true);
    expect(loadConfig({}).MQTT_DYNSEC).toBe(false);
  });
});
