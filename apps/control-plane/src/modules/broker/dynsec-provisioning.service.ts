/**
 * Provisioning for Mosquitto 2's dynamic-security plugin, through the control plane's own MQTT connection
 * as the plugin's admin.
 *
 * Failure policy. Enrollment provisions inside its database transaction, after the rows are written: if
 * the broker does not confirm, the enrollment fails and rolls back (the token use is not consumed, the
 * agent retries), because the secret is stored only hashed and could not be provisioned later; an agent
 * must never be enrolled yet silently unable to connect. Revocation is committed first; removing the
 * broker client is then tried at once and, if the broker does not confirm, retried every few seconds
 * with an error log per failure, and again at the next start (clients of revoked agents are swept).
 */
import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { AgentAddress } from '@medfleet/contracts';
import type { TenantDb } from '../../database/tenant-db.js';
import { BrokerProvisioning } from './broker-provisioning.service.js';
import {
  CONTROL_PLANE_ROLE,
  agentAcls,
  agentRoleName,
  assertAgentUsername,
  controlPlaneAcls,
  type DynsecAcl,
} from './dynsec-acl.js';
import { DynsecError, type DynsecClient } from './dynsec-client.js';

const ALREADY = /already/i;
const NOT_FOUND = /not found/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class DynsecBrokerProvisioning
  extends BrokerProvisioning
  implements OnApplicationBootstrap, OnModuleDestroy
{
  readonly kind = 'dynsec' as const;
  private readonly logger = new Logger('DynsecProvisioning');
  private readonly retrying = new Set<string>();
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dynsec: DynsecClient,
    private readonly tenantDb: TenantDb,
    private readonly retryMs = 5000,
  ) {
    super();
  }

  async provisionAgent(address: AgentAddress, secret: string): Promise<void> {
    const agentId = address.agentId;
    assertAgentUsername(agentId);
    const rolename = agentRoleName(agentId);
    const [role, client] = await this.dynsec.send([
      {
        command: 'createRole',
        rolename,
        textname: `Medfleet agent ${agentId}`,
        acls: agentAcls(address),
      },
      {
        command: 'createClient',
        username: agentId,
        clientid: agentId,
        password: secret,
        textname: `Medfleet agent ${agentId}`,
        roles: [{ rolename, priority: 0 }],
      },
    ]);
    if (role?.error && !ALREADY.test(role.error)) throw new DynsecError('createRole', role.error);
    if (!client) throw new DynsecError('createClient', 'no response');
    if (client.error) {
      if (!ALREADY.test(client.error)) throw new DynsecError('createClient', client.error);
      // A retry of an earlier attempt: bring the existing client to the wanted state.
      await this.dynsec.run({ command: 'setClientId', username: agentId, clientid: agentId });
      await this.dynsec.run({ command: 'setClientPassword', username: agentId, password: secret });
      // (Mosquitto 2.0 answers "Internal error" to adding a role the client already has: look first.)
      const existing = await this.dynsec.run({ command: 'getClient', username: agentId });
      if (!clientRoles(existing.data).includes(rolename)) {
        await this.dynsec.run({ command: 'addClientRole', username: agentId, rolename, priority: 0 });
      }
      await this.dynsec.run({ command: 'enableClient', username: agentId });
    }
    this.logger.log(`agent ${agentId} provisioned on the broker`);
  }

  async deprovisionAgent(agentId: string): Promise<void> {
    try {
      await this.remove(agentId);
      this.retrying.delete(agentId);
    } catch (error) {
      this.logger.error(
        `agent ${agentId} is revoked but its broker client could not be removed (${describe(error)}); ` +
          `retrying every ${this.retryMs / 1000} s`,
      );
      this.retrying.add(agentId);
      this.scheduleRetry();
    }
  }

  /** Sweeps the broker once at start: clients of agents revoked while the broker did not answer. */
  async onApplicationBootstrap(): Promise<void> {
    try {
      const swept = await this.sweepRevoked();
      if (swept > 0) this.logger.warn(`removed ${swept} broker client(s) of revoked agents`);
    } catch (error) {
      this.logger.error(`could not sweep broker clients of revoked agents: ${describe(error)}`);
    }
  }

  onModuleDestroy(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    return this.dynsec.close();
  }

  /** Agents waiting for their broker client to be removed. */
  get pendingRemovals(): string[] {
    return [...this.retrying];
  }

  private async remove(agentId: string): Promise<void> {
    assertAgentUsername(agentId);
    // Deleting the client makes Mosquitto close its connection at once.
    await this.dynsec.run({ command: 'deleteClient', username: agentId }, NOT_FOUND);
    await this.dynsec.run({ command: 'deleteRole', rolename: agentRoleName(agentId) }, NOT_FOUND);
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void (async () => {
        for (const agentId of [...this.retrying]) {
          await this.deprovisionAgent(agentId);
          if (!this.retrying.has(agentId)) {
            this.logger.warn(`agent ${agentId}: broker client removed after a retry`);
          }
        }
      })();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private async sweepRevoked(): Promise<number> {
    const usernames: string[] = [];
    for (let offset = 0; ; offset += 1000) {
      const response = await this.dynsec.run({ command: 'listClients', verbose: false, count: 1000, offset });
      const data = response.data as { clients?: (string | { username: string })[] } | undefined;
      const page = (data?.clients ?? []).map((c) => (typeof c === 'string' ? c : c.username));
      usernames.push(...page);
      if (page.length < 1000) break;
    }
    const agentIds = usernames.filter((name) => UUID.test(name));
    if (agentIds.length === 0) return 0;
    const revoked = await this.tenantDb.unscoped(async (db) => {
      const rows = (await db.query(
        `SELECT agent_id FROM agent_credentials WHERE agent_id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`,
        [agentIds],
      )) as { agent_id: string }[];
      return rows.map((row) => row.agent_id);
    });
    for (const agentId of revoked) await this.deprovisionAgent(agentId);
    return revoked.length;
  }
}

/**
 * Gives the control plane's own broker client (MQTT_USERNAME) the role it needs beside the plugin's admin
 * role. Run before the control plane's other MQTT clients connect: Mosquitto disconnects every client of
 * a username whose roles change, and does so only the first time (the role already held is left alone).
 */
export async function ensureControlPlaneRole(
  dynsec: DynsecClient,
  username: string,
  logger: { info(message: string): void; warn(message: string): void },
): Promise<void> {
  const wanted = controlPlaneAcls();
  const created = await dynsec.run(
    {
      command: 'createRole',
      rolename: CONTROL_PLANE_ROLE,
      textname: 'Medfleet control plane',
      acls: wanted,
    },
    ALREADY,
  );
  if (created.error) {
    const role = await dynsec.run({ command: 'getRole', rolename: CONTROL_PLANE_ROLE });
    const have = (role.data as { role?: { acls?: DynsecAcl[] } } | undefined)?.role?.acls ?? [];
    const key = (acl: Pick<DynsecAcl, 'acltype' | 'topic'>) => `${acl.acltype} ${acl.topic}`;
    const existing = new Set(have.map(key));
    for (const acl of wanted.filter((a) => !existing.has(key(a)))) {
      await dynsec.run({ command: 'addRoleACL', rolename: CONTROL_PLANE_ROLE, ...acl }, ALREADY);
    }
  }
  const hasRole = async () =>
    clientRoles((await dynsec.run({ command: 'getClient', username })).data).includes(CONTROL_PLANE_ROLE);
  if (await hasRole()) return;
  logger.warn(
    `giving broker client ${username} the role ${CONTROL_PLANE_ROLE} (its connections restart once)`,
  );
  // The broker disconnects this very connection before it answers: the answer is checked after reconnecting.
  await dynsec
    .run({ command: 'addClientRole', username, rolename: CONTROL_PLANE_ROLE, priority: 0 }, ALREADY)
    .catch(() => undefined);
  const deadline = Date.now() + 15_000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (dynsec.connected && (await hasRole().catch(() => false))) break;
    if (Date.now() > deadline) {
      throw new DynsecError('addClientRole', `${username} did not get the role ${CONTROL_PLANE_ROLE}`);
    }
  }
  logger.info(`broker client ${username} has the role ${CONTROL_PLANE_ROLE}`);
}

function clientRoles(data: unknown): string[] {
  const roles = (data as { client?: { roles?: { rolename: string }[] } } | undefined)?.client?.roles;
  return (roles ?? []).map((role) => role.rolename);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
