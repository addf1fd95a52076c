// Remote configuration end to end with the real agent process: PUT /agents/:id/config → cmd/config
// (retained) → the agent applies it without a restart and says so on `events` → the API shows it applied;
// a config the agent refuses shows as rejected with its reason; bad input is a 400 with a code; another
// tenant sees nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { downlinkTopic } from '@medfleet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerEndpoint } from '../src/infra/runtime.js';
import { OrganizationService } from '../src/modules/organizations/organization.service.js';
import { ApiClient } from './support/api-client.js';
import { enrollAgentProcess, type AgentProcess } from './support/edge-agent-process.js';
import { signInAs } from './support/identity-session.js';
import { createTenantSession, eventually, expectOk, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;
let agent: AgentProcess;

beforeAll(async () => {
  cp = await startTestControlPlane({ AGENT_HEALTH_INTERVAL_SEC: '30' });
  session = await createTenantSession(cp);
  agent = await enrollAgentProcess(cp.grpcAddress, await session.createToken());
  await agent.start();
});

afterAll(async () => {
  await clearRetainedConfig().catch(() => undefined);
  await agent?.remove();
  await cp?.stop();
});

/** Removes the retained config from the broker (as a broker that lost its retained store would have). */
async function clearRetainedConfig(): Promise<void> {
  const broker = cp.app.get(BrokerEndpoint);
  const client = await mqtt.connectAsync(broker.url, {
    clientId: `test-clear-${randomUUID()}`,
    protocolVersion: cp.config.embeddedBroker ? 4 : 5,
    ...(broker.username ? { username: broker.username } : {}),
    ...(broker.password ? { password: broker.password } : {}),
    reconnectPeriod: 0,
  });
  try {
    const address = { tenantId: session.tenant.id, siteId: session.site.id, agentId: agent.agentId };
    await client.publishAsync(downlinkTopic(address, 'config'), Buffer.alloc(0), { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
}

const configOf = (id = agent.agentId) => expectOk(session.api.get(`/agents/${id}/config`));
const agentView = () => expectOk(session.api.get(`/agents/${agent.agentId}`));

describe('remote configuration', () => {
  it('starts from the enrollment config: version 0, inventory on, every day 22:00–05:00 in the site time zone', async () => {
    await eventually(async () => (await agentView()).status === 'online');
    const config = await configOf();
    expect(config).toMatchObject({
      desiredVersion: 0,
      appliedVersion: 0,
      state: 'applied',
      desired: {
        version: 0,
        healthIntervalSec: 30,
        collectors: { inventory: { enabled: true } },
        maintenance: {
          timeZone: 'America/New_York',
          windows: [
            { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '05:00' },
          ],
        },
      },
      rejection: null,
    });
    const health = (await agentView()).lastHealth;
    expect(health).toMatchObject({ configVersion: 0, collectors: expect.any(Array) });
  });

  it('round trip: set through the API, applied by the agent without a restart, shown applied', async () => {
    const started = agent.lines.filter((line) => line.msg === 'agent started').length;
    const set = await expectOk(
      session.api.request('PUT', `/agents/${agent.agentId}/config`, {
        inventoryIntervalSec: 900,
        healthIntervalSec: 1,
        collectors: { inventory: { enabled: false } },
        maintenance: { windows: [{ days: ['sat', 'sun'], start: '20:00', end: '06:00' }] },
      }),
    );
    expect(set).toMatchObject({ desiredVersion: 1, desired: { version: 1, healthIntervalSec: 1 } });
    expect(set.desired.maintenance.timeZone).toBe('America/New_York');

    const applied = await eventually(async () => {
      const config = await configOf();
      return config.state === 'applied' && config.appliedVersion === 1 ? config : null;
    });
    expect(applied.appliedAt).not.toBeNull();
    expect(agent.lines.filter((line) => line.msg === 'agent started')).toHaveLength(started);
    // Health now comes every second and says which config it runs and that inventory is off.
    const view = await eventually(async () => {
      const current = await agentView();
      return current.lastHealth?.configVersion === 1 ? current : null;
    });
    expect(view).toMatchObject({ healthIntervalSec: 1, inventoryIntervalSec: 900, appliedConfigVersion: 1 });
    expect(view.lastHealth.collectors).toContainEqual(
      expect.objectContaining({ name: 'inventory', enabled: false, running: false }),
    );
    const firstHealthAt = new Date(view.lastHealthAt).getTime();
    await eventually(async () => new Date((await agentView()).lastHealthAt).getTime() > firstHealthAt, 5_000);

    const events = await expectOk(session.api.get(`/agents/${agent.agentId}/events`));
    expect(events.items).toContainEqual(
      expect.objectContaining({
        type: 'agent.config_applied',
        body: expect.objectContaining({ version: 1 }),
      }),
    );
    const owner = await cp.owner();
    try {
      const { rows } = await owner.query(
        `SELECT after FROM audit_entries WHERE action = 'agent.configure' AND target_id = $1`,
        [agent.agentId],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].after).toMatchObject({ version: 1, healthIntervalSec: 1 });
    } finally {
      await owner.end();
    }
  });

  it('a config the agent refuses is shown rejected with its reason, and the agent keeps the old one', async () => {
    // Valid for the contract, but this agent version has no SNMP collector.
    const set = await expectOk(
      session.api.request('PUT', `/agents/${agent.agentId}/config`, {
        inventoryIntervalSec: 900,
        healthIntervalSec: 5,
        collectors: { inventory: { enabled: true }, snmp_poll: { enabled: true } },
      }),
    );
    expect(set.desiredVersion).toBe(2);
    const rejected = await eventually(async () => {
      const config = await configOf();
      return config.state === 'rejected' ? config : null;
    });
    expect(rejected).toMatchObject({
      desiredVersion: 2,
      appliedVersion: 1,
      rejection: {
        version: 2,
        reason: 'UNSUPPORTED_COLLECTOR',
        detail: expect.stringContaining('snmp_poll'),
      },
    });
    const events = await expectOk(session.api.get(`/agents/${agent.agentId}/events`));
    expect(events.items).toContainEqual(
      expect.objectContaining({
        type: 'agent.config_rejected',
        body: expect.objectContaining({ version: 2, keptVersion: 1, reason: 'UNSUPPORTED_COLLECTOR' }),
      }),
    );
    // Still version 1: a report every second, inventory off.
    const view = await agentView();
    expect(view).toMatchObject({ healthIntervalSec: 1, appliedConfigVersion: 1, desiredConfigVersion: 2 });
    expect(view.lastHealth.configVersion).toBe(1);
  });

  it('refuses bad input with 400 and a code, before anything reaches the agent', async () => {
    const put = (body: unknown) => session.api.request('PUT', `/agents/${agent.agentId}/config`, body);
    // At most 14 windows (none at all is a site closed to maintenance).
    const tooManyWindows = Array.from({ length: 15 }, () => ({
      days: ['mon'],
      start: '22:00',
      end: '05:00',
    }));
    const cases: [unknown, string][] = [
      [{ inventoryIntervalSec: 60, healthIntervalSec: 0 }, 'VALIDATION_FAILED'],
      [{ inventoryIntervalSec: 60 }, 'VALIDATION_FAILED'],
      [{ inventoryIntervalSec: 60, healthIntervalSec: '5' }, 'VALIDATION_FAILED'],
      [{ inventoryIntervalSec: 60, healthIntervalSec: 5, extra: true }, 'VALIDATION_FAILED'],
      [
        { inventoryIntervalSec: 60, healthIntervalSec: 5, collectors: { wifi_sniffer: { enabled: true } } },
        'CONFIG_INVALID',
      ],
      [{ inventoryIntervalSec: 60, healthIntervalSec: 5, collectors: { inventory: true } }, 'CONFIG_INVALID'],
      [
        { inventoryIntervalSec: 60, healthIntervalSec: 5, maintenance: { windows: tooManyWindows } },
        'CONFIG_INVALID',
      ],
      [
        {
          inventoryIntervalSec: 60,
          healthIntervalSec: 5,
          maintenance: { windows: [{ days: ['mon'], start: '25:00', end: '05:00' }] },
        },
        'CONFIG_INVALID',
      ],
      [
        {
          inventoryIntervalSec: 60,
          healthIntervalSec: 5,
          maintenance: {
            timeZone: 'Europe/Paris',
            windows: [{ days: ['mon'], start: '22:00', end: '05:00' }],
          },
        },
        'CONFIG_INVALID',
      ],
    ];
    for (const [body, code] of cases) {
      const response = await put(body);
      expect({ body, status: response.status, code: response.body?.error?.code }).toEqual({
        body,
        status: 400,
        code,
      });
    }
    const invalid = await put({
      inventoryIntervalSec: 60,
      healthIntervalSec: 5,
      maintenance: { windows: tooManyWindows },
    });
    const otherZone = await put({
      inventoryIntervalSec: 60,
      healthIntervalSec: 5,
      maintenance: { timeZone: 'Europe/Paris', windows: [{ days: ['mon'], start: '22:00', end: '05:00' }] },
    });
    expect(otherZone.body.error.details.issues).toEqual([
      expect.objectContaining({
        path: 'maintenance.timeZone',
        message: expect.stringContaining('America/New_York'),
      }),
    ]);
    expect(invalid.body.error.details.issues).toContainEqual(
      expect.objectContaining({ path: 'maintenance.windows' }),
    );
    expect(
      (
        await session.api.request('PUT', `/agents/${randomUUID()}/config`, {
          inventoryIntervalSec: 60,
          healthIntervalSec: 5,
        })
      ).status,
    ).toBe(404);
    expect((await configOf()).desiredVersion).toBe(2);
  });

  it('goes out again when the agent reconnects, and when it reports an older version', async () => {
    // Offline while the config changes: the broker keeps it retained for the agent's next subscribe.
    await agent.stop();
    await expectOk(
      session.api.request('PUT', `/agents/${agent.agentId}/config`, {
        inventoryIntervalSec: 900,
        healthIntervalSec: 2,
      }),
    );
    await agent.start();
    await eventually(async () => {
      const config = await configOf();
      return config.state === 'applied' && config.appliedVersion === 3;
    });
    // The agent loses its stored config and the broker its retained message: the agent comes back on
    // version 0, reports it, and the control plane sends version 3 again.
    await agent.stop();
    await clearRetainedConfig();
    await fs.rm(path.join(agent.stateDir, 'config.json'));
    const appliedBefore = agent.lines.filter((line) => line.msg === 'config applied').length;
    await agent.start();
    await eventually(async () => {
      const applied = agent.lines.filter((line) => line.msg === 'config applied');
      return applied.length > appliedBefore && applied.at(-1)?.['version'] === 3;
    });
    // It came back on version 0 and said so before the control plane sent version 3 again.
    const restarted = agent.lines.slice(agent.lines.findLastIndex((line) => line.msg === 'agent started'));
    expect(restarted.find((line) => line.msg === 'agent started')?.['configVersion']).toBe(0);
    await eventually(async () => (await agentView()).lastHealth?.configVersion === 3);
    expect((await configOf()).state).toBe('applied');
  });

  it('another tenant neither sees nor changes the config', async () => {
    const other = await cp.app
      .get(OrganizationService)
      .create('Other MSP', `other-${randomUUID().slice(0, 8)}`);
    const outsider = new ApiClient(cp.httpUrl, other.apiKey.token);
    const sibling = await createTenantSession(cp);
    const neighbour = (await signInAs(cp, 'practice_admin', { tenantId: sibling.tenant.id })).api;
    for (const api of [outsider, neighbour]) {
      expect((await api.get(`/agents/${agent.agentId}/config`)).status).toBe(404);
      const put = await api.request('PUT', `/agents/${agent.agentId}/config`, {
        inventoryIntervalSec: 60,
        healthIntervalSec: 5,
      });
      expect(put.status).toBe(404);
    }
    expect((await configOf()).desiredVersion).toBe(3);
  });
});
