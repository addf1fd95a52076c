/**
 * Finds agents silent longer than their health interval allows and opens an alert for each, every
 * AGENT_SILENCE_SWEEP_SEC. Safe with any number of control-plane replicas on one database: candidate rows
 * are locked with SKIP LOCKED and a unique index allows one open alert per agent, so a sweep racing
 * another opens nothing twice. Alerts close in ingest, when the agent reports again.
 */
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb } from '../../database/tenant-db.js';
import { silenceRule, type SilenceRule } from '../agents/agent-status.js';
import { AuditService } from '../audit/audit.service.js';
import { AlertRepository, type AlertRow } from './alert.repository.js';

const SYSTEM_ACTOR = { kind: 'system', id: null, display: 'control plane' };

@Injectable()
export class AgentSilenceSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AgentSilenceSweeper.name);
  private readonly rule: SilenceRule;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly alerts: AlertRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.rule = silenceRule(config);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      // A slow sweep is not stacked on by the next tick.
      if (this.running) return;
      this.running = this.sweep()
        .catch((error: unknown) => this.logger.error({ msg: 'silence sweep failed', err: String(error) }))
        .finally(() => {
          this.running = null;
        });
    }, this.config.AGENT_SILENCE_SWEEP_SEC * 1000);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep; resolves to the alerts it opened. */
  async sweep(): Promise<AlertRow[]> {
    const tenants = await this.tenantDb.unscoped((db) => this.alerts.tenantsWithNewSilence(db, this.rule));
    const opened: AlertRow[] = [];
    for (const tenantId of tenants) {
      const rows = await this.tenantDb.run({ organizationId: null, tenantIds: [tenantId] }, async (tx) => {
        const created = await this.alerts.openSilenceAlerts(tx, tenantId, this.rule);
        for (const alert of created) {
          await this.audit.record(tx, {
            action: 'agent.alert_open',
            actor: SYSTEM_ACTOR,
            tenantId,
            target: { type: 'agent_alert', id: alert.id },
            details: {
              agentId: alert.agent_id,
              kind: alert.kind,
              lastSeenAt: alert.last_seen_at,
              silenceThresholdSec: alert.silence_threshold_sec,
            },
          });
        }
        return created;
      });
      for (const alert of rows) {
        this.logger.warn({
          msg: 'agent silent: alert opened',
          agentId: alert.agent_id,
          tenantId,
          lastSeenAt: alert.last_seen_at,
        });
      }
      opened.push(...rows);
    }
    return opened;
  }
}
