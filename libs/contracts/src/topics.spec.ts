import { describe, expect, it } from 'vitest';
import {
  agentTopicPrefix,
  downlinkTopic,
  parseTopic,
  sharedSubscription,
  uplinkFilter,
  uplinkTopic,
} from './topics.js';

const address = {
  tenantId: '11111111-1111-4111-8111-111111111111',
  siteId: '22222222-2222-4222-8222-222222222222',
  agentId: '33333333-3333-4333-8333-333333333333',
};

describe('topics', () => {
  it('builds uplink and downlink topics under the agent prefix', () => {
    const prefix = `medfleet/v1/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}`;
    expect(agentTopicPrefix(address)).toBe(prefix);
    expect(uplinkTopic(address, 'inventory')).toBe(`${prefix}/inventory`);
    expect(uplinkTopic(address, 'jobs/progress')).toBe(`${prefix}/jobs/progress`);
    expect(downlinkTopic(address, 'ack')).toBe(`${prefix}/cmd/ack`);
  });

  it('round-trips through the parser', () => {
    expect(parseTopic(uplinkTopic(address, 'jobs/progress'))).toEqual({
      direction: 'uplink',
      stream: 'jobs/progress',
      ...address,
    });
    expect(parseTopic(downlinkTopic(address, 'config'))).toEqual({
      direction: 'downlink',
      kind: 'config',
      ...address,
    });
  });

  it('ignores a shared-subscription prefix', () => {
    expect(parseTopic(`$share/cp/${uplinkTopic(address, 'health')}`)).toMatchObject({ stream: 'health' });
  });

  it.each([
    'medfleet/v1/t/x/s/y/a/z/inventory',
    `medfleet/v2/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}/inventory`,
    `medfleet/v1/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}/telemetry`,
    `medfleet/v1/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}/cmd/reboot`,
    `medfleet/v1/t/${address.tenantId}/s/${address.siteId}/a/${address.agentId}`,
    'something/else',
  ])('refuses %s', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('refuses ids that would inject wildcards or levels', () => {
    expect(() => uplinkTopic({ ...address, agentId: '+' }, 'inventory')).toThrow(/agentId/);
    expect(() => uplinkTopic({ ...address, tenantId: `${address.tenantId}/#` }, 'inventory')).toThrow(
      /tenantId/,
    );
  });

  it('builds filters and shared subscriptions', () => {
    expect(uplinkFilter('inventory')).toBe('medfleet/v1/t/+/s/+/a/+/inventory');
    expect(sharedSubscription('cp', uplinkFilter('health'))).toBe('$share/cp/medfleet/v1/t/+/s/+/a/+/health');
    expect(() => sharedSubscription('a/b', 'x')).toThrow();
  });
});
