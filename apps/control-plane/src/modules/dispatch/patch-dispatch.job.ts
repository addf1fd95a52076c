/**
 * The dispatcher: every DISPATCH_INTERVAL_SEC (and whenever a test calls `tick`), it
 * 1. gives agents that lack it the work-order signing key, and agents whose site's maintenance policy or blackouts
 *    changed a new copy of them (one new config version on `cmd/config`);
 * 2. decides about each running campaign from its jobs (`decideGate`): pauses it at the abort threshold or at a
 *    wave's failed gate, releases the next wave once the one before passed (and soaked), completes it when the
 *    last wave is done; every decision is audited as the system's;
 * 3. moves jobs whose window ended unfinished, or that an agent deferred, to a later window with the campaign's
 *    catch-up policy (`rolloverJob`), or marks them held when none is left: never dropped;
 * 4. claims due jobs (planned, campaign running, wave released, window open, deadline ahead), at most the site's concurrency
 *    limit at once, marks them dispatched with attempt and deadline, and publishes each signed work order
 *    QoS 1 on its agent's `cmd/jobs` once the claim committed.
 * Safe with any number of replicas on one database: see DispatchRepository.
 */
import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import {
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  downlinkTopic,
  encodeEnvelope,
  signWorkOrder,
  type AgentAddress,
  type SignedWorkOrder,
  type WorkOrderAction,
  type WorkOrderEnvelope,
} from '@medfleet/contracts';
import { compilePolicy, localDateTime, rolloverJob, windowAt, type PlanSite } from '@medfleet/scheduling';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { AgentConfigService } from '../agent-config/agent-config.service.js';
import { systemActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { DownlinkPublisher } from '../ingest/downlink.publisher.js';
import { MaintenanceService } from '../maintenance/maintenance.service.js';
import { decideGate, type GateDecision } from './campaign-gate.js';
import { CampaignGateRepository } from './campaign-gate.repository.js';
import { DispatchClock } from './dispatch-clock.js';
import { DispatchRepository, type DueJob, type JobToMove } from './dispatch.repository.js';
import { WorkOrderKeyService, type SigningKey } from './work-order-key.service.js';

/** Most jobs claimed per site and tick; the rest wait for the next tick. */
const CLAIM_MAX = 500;

export interface TickResult {
  dispatched: { jobId: string; agentId: string; attempt: number }[];
  moved: number;
  held: number;
  /** Agents given a new config version: the signing key, or a new copy of their site's maintenance policy. */
  configsGiven: number;
  /** Campaign decisions of this tick: waves released, campaigns paused (with the reason) or completed. */
  campaigns: {
    campaignId: string;
    decision: 'release' | 'pause' | 'complete';
    wave?: number;
    code?: string;
  }[];
}

const DISPATCHER_ACTOR = systemActor('dispatcher');

interface Outgoing {
  address: AgentAddress;
  envelope: WorkOrderEnvelope;
}

@Injectable()
export class PatchDispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PatchDispatcher.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly tenantDb: TenantDb,
    private readonly repository: DispatchRepository,
    private readonly keys: WorkOrderKeyService,
    private readonly agentConfigs: AgentConfigService,
    private readonly maintenance: MaintenanceService,
    private readonly downlink: DownlinkPublisher,
    private readonly clock: DispatchClock,
    private readonly gates: CampaignGateRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.DISPATCH_INTERVAL_SEC === 0) return;
    this.timer = setInterval(() => {
      // A slow tick is not stacked on by the next one.
      if (this.running) return;
      this.running = this.tick()
        .catch((error: unknown) => this.logger.error({ msg: 'dispatch tick failed', err: String(error) }))
        .finally(() => {
          this.running = null;
        });
    }, this.config.DISPATCH_INTERVAL_SEC * 1000);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  async tick(): Promise<TickResult> {
    const now = this.clock.now();
    const key = await this.keys.signingKey();
    const result: TickResult = { dispatched: [], moved: 0, held: 0, configsGiven: 0, campaigns: [] };

    const stale = await this.tenantDb.unscoped((db) => this.repository.tenantsWithStaleConfig(db, key.keyId));
    for (const tenantId of stale) {
      try {
        result.configsGiven += (await this.agentConfigs.refreshConfigs(tenantId, key.publicKey)).length;
      } catch (error) {
        // One tenant's trouble holds back only that tenant; the next tick tries again.
        this.logger.error({ msg: 'agent configs not refreshed', tenantId, err: String(error) });
      }
    }

    const campaigns = await this.tenantDb.unscoped((db) => this.gates.runningCampaigns(db));
    for (const campaign of campaigns) {
      try {
        const decided = await this.tenantDb.run(
          { organizationId: campaign.organizationId, tenantIds: [] },
          (tx) => this.decideCampaign(tx, campaign.organizationId, campaign.id, now),
        );
        if (decided) result.campaigns.push(decided);
      } catch (error) {
        this.logger.error({ msg: 'campaign gate failed', campaignId: campaign.id, err: String(error) });
      }
    }

    const tenants = await this.tenantDb.unscoped((db) => this.repository.tenantsWithWork(db, now));
    for (const tenantId of tenants) {
      let outgoing: Outgoing[];
      // Counted apart and added once the transaction committed.
      const counted: TickResult = { dispatched: [], moved: 0, held: 0, configsGiven: 0, campaigns: [] };
      try {
        outgoing = await this.tenantDb.run({ organizationId: null, tenantIds: [tenantId] }, (tx) =>
          this.dispatchTenant(tx, tenantId, now, key, counted),
        );
        result.dispatched.push(...counted.dispatched);
        result.moved += counted.moved;
        result.held += counted.held;
      } catch (error) {
        // Rolled back: nothing of this tenant was claimed; the next tick tries again.
        this.logger.error({ msg: 'dispatch failed for a tenant', tenantId, err: String(error) });
        continue;
      }
      // Published after the commit: an order is never out for a claim that did not commit. One not published
      // stays dispatched until its window ends, then moves on like any unfinished job.
      for (const order of outgoing) {
        try {
          await this.downlink.publish(downlinkTopic(order.address, 'jobs'), encodeEnvelope(order.envelope));
        } catch (error) {
          this.logger.warn({
            msg: 'work order not published',
            jobId: order.envelope.body.jobId,
            err: String(error),
          });
        }
      }
    }
    if (result.dispatched.length > 0 || result.moved > 0 || result.held > 0 || result.campaigns.length > 0) {
      this.logger.log({
        msg: 'dispatch tick',
        dispatched: result.dispatched.length,
        moved: result.moved,
        held: result.held,
        campaigns: result.campaigns,
      });
    }
    return result;
  }

  /**
   * One campaign's gate, under its row lock: a replica that finds it locked skips it this tick. The decision and
   * the figures it was made on go to the audit trail; a pause keeps its reason on the campaign for the API.
   */
  private async decideCampaign(
    tx: TenantTx,
    organizationId: string,
    campaignId: string,
    now: Date,
  ): Promise<TickResult['campaigns'][number] | null> {
    const campaign = await this.gates.lockRunning(tx, organizationId, campaignId);
    if (!campaign) return null;
    const counts = await this.gates.waveCounts(tx, campaign.id);
    const decision: GateDecision = decideGate({
      waves: campaign.waves,
      counts,
      releasedWave: campaign.releasedWave,
      abortPolicy: campaign.abortPolicy,
      abortBaseline: campaign.abortBaseline,
      nowMs: now.getTime(),
    });
    const target = { type: 'campaign', id: campaign.id };
    switch (decision.kind) {
      case 'wait':
        return null;
      case 'pause': {
        const { kind: _kind, ...reason } = decision;
        await this.gates.pause(tx, campaign, { ...reason, at: now.toISOString() });
        await this.audit.record(tx, {
          action: 'campaign.pause',
          actor: DISPATCHER_ACTOR,
          target,
          before: { state: 'running' },
          after: { state: 'paused' },
          details: reason,
        });
        return { campaignId: campaign.id, decision: 'pause', code: decision.code };
      }
      case 'release':
        await this.gates.release(tx, campaign, decision.wave, now);
        await this.audit.record(tx, {
          action: 'campaign.release_wave',
          actor: DISPATCHER_ACTOR,
          target,
          before: { releasedWave: campaign.releasedWave },
          after: { releasedWave: decision.wave },
          details: { passedWave: decision.after, successRatePercent: decision.successRatePercent },
        });
        return { campaignId: campaign.id, decision: 'release', wave: decision.wave };
      case 'complete':
        await this.gates.complete(tx, campaign);
        await this.audit.record(tx, {
          action: 'campaign.complete',
          actor: DISPATCHER_ACTOR,
          target,
          before: { state: 'running' },
          after: { state: 'completed' },
          details: { waves: Object.fromEntries(counts) },
        });
        return { campaignId: campaign.id, decision: 'complete' };
    }
  }

  private async dispatchTenant(
    tx: TenantTx,
    tenantId: string,
    now: Date,
    key: SigningKey,
    result: TickResult,
  ): Promise<Outgoing[]> {
    const sites = await this.repository.claimSites(tx, tenantId, now);
    const planSites = await this.maintenance.planSites(tx, sites);
    const outgoing: Outgoing[] = [];
    for (const site of planSites) {
      await this.moveJobs(
        tx,
        tenantId,
        site,
        now,
        result,
        await this.repository.jobsToMove(tx, tenantId, site.id, now),
      );
      // A blackout declared after the plan (a hurricane freeze) wins over it: no order goes out in it, the jobs
      // due now move past it, and an order going out before it starts must end before it does. A policy changed
      // since (a shorter window) wins over it too.
      const open = windowAt(site, now.getTime(), site.blackouts);
      if (!open) {
        const frozen = await this.repository.openPlannedJobs(tx, tenantId, site.id, now);
        const why = windowAt(site, now.getTime()) ? 'BLACKOUT' : 'OUTSIDE_POLICY';
        await this.moveJobs(tx, tenantId, site, now, result, frozen, why);
        continue;
      }
      // Too close to the end of the open time for any deadline: jobs left move when it ends, as missed ones do.
      if (open.endMs - this.config.DISPATCH_DEADLINE_MARGIN_SEC * 1000 <= now.getTime()) continue;
      const limit = compilePolicy(site.policy).maxConcurrentJobs;
      const free = limit - (await this.repository.runningCount(tx, tenantId, site.id, now));
      if (free <= 0) continue;
      const due = await this.repository.claimDue(
        tx,
        tenantId,
        site.id,
        now,
        this.config.DISPATCH_DEADLINE_MARGIN_SEC,
        key.keyId,
        Math.min(free, CLAIM_MAX),
        new Date(open.endMs),
      );
      for (const job of due) {
        outgoing.push(await this.dispatchJob(tx, tenantId, site, job, now, key, open.endMs));
        result.dispatched.push({ jobId: job.id, agentId: job.agentId, attempt: job.attempt + 1 });
      }
    }
    return outgoing;
  }

  /**
   * Moves jobs to a later window with the campaign's catch-up policy, or holds them deferred when there is none.
   * `blackout`: jobs a blackout declared since the plan (or a changed policy) keeps from their window, moved
   * uncounted like a held wave.
   */
  private async moveJobs(
    tx: TenantTx,
    tenantId: string,
    site: PlanSite,
    now: Date,
    result: TickResult,
    jobs: readonly JobToMove[],
    blackout?: 'BLACKOUT' | 'OUTSIDE_POLICY',
  ): Promise<void> {
    if (jobs.length === 0) return;
    const busy = await this.repository.busyIntervals(
      tx,
      tenantId,
      site.id,
      now,
      jobs.map((job) => job.id),
    );
    for (const job of jobs) {
      // Held back by the control plane (a blackout, a wave not released, a paused campaign): not the job's fault.
      const held = blackout !== undefined || (job.state === 'planned' && (job.gated || job.paused));
      const cause = held ? 'held' : job.state === 'planned' ? 'missed' : 'deferred';
      const moved = rolloverJob({
        site,
        now: now.getTime(),
        catchUp: job.catchUp,
        busy,
        job: {
          jobId: job.id,
          siteId: site.id,
          wave: job.wave,
          durationMs: job.plannedEnd.getTime() - job.plannedStart.getTime(),
          rollovers: job.rollovers,
        },
        cause,
      });
      const attempt = job.attempt;
      if (moved.status === 'placed') {
        await this.repository.movePlanned(tx, tenantId, job.id, moved.job, moved.rollovers);
        busy.push({ startMs: moved.job.startMs, endMs: moved.job.endMs });
        await this.repository.recordEvent(tx, tenantId, {
          jobId: job.id,
          attempt,
          state: 'deferred',
          reason: blackout ?? moveReason(job),
          detail: `was ${job.state}; rolled over to the window opening ${new Date(moved.job.windowStartMs).toISOString()}`,
          occurredAt: now,
        });
        result.moved += 1;
      } else {
        await this.repository.holdDeferred(tx, tenantId, job.id, {
          reason: moved.job.reason,
          detail: moved.job.detail,
        });
        await this.repository.recordEvent(tx, tenantId, {
          jobId: job.id,
          attempt,
          state: 'deferred',
          reason: moved.job.reason,
          detail: moved.job.detail,
          occurredAt: now,
        });
        result.held += 1;
      }
    }
  }

  private async dispatchJob(
    tx: TenantTx,
    tenantId: string,
    site: PlanSite,
    job: DueJob,
    now: Date,
    key: SigningKey,
    openUntilMs: number,
  ): Promise<Outgoing> {
    const attempt = job.attempt + 1;
    // The window as the agent must keep it: cut short where a blackout begins tonight.
    const windowEnd = new Date(Math.min(job.windowEnd.getTime(), openUntilMs));
    const deadline = new Date(windowEnd.getTime() - this.config.DISPATCH_DEADLINE_MARGIN_SEC * 1000);
    const order: SignedWorkOrder = signWorkOrder(
      {
        jobId: job.id,
        campaignId: job.campaignId,
        attempt,
        agentId: job.agentId,
        device: { mac: job.mac, deviceId: job.deviceId },
        action: actionOf(job),
        window: {
          startUtc: job.windowStart.toISOString(),
          endUtc: windowEnd.toISOString(),
          startLocal: localDateTime(job.windowStart.getTime(), site.timeZone),
          endLocal: localDateTime(windowEnd.getTime(), site.timeZone),
          timeZone: site.timeZone,
        },
        deadline: deadline.toISOString(),
        issuedAt: now.toISOString(),
      },
      key,
    );
    const workOrderId = randomUUID();
    await this.repository.markDispatched(tx, tenantId, {
      id: job.id,
      agentId: job.agentId,
      attempt,
      workOrderId,
      deadline,
      at: now,
    });
    await this.repository.recordEvent(tx, tenantId, {
      jobId: job.id,
      attempt,
      state: 'dispatched',
      detail: `work order ${workOrderId} to agent ${job.agentId}, deadline ${deadline.toISOString()}, key ${key.keyId}`,
      occurredAt: now,
    });
    const seq = await this.repository.nextDownlinkSeq(tx, tenantId, job.agentId);
    return {
      address: { tenantId, siteId: job.siteId, agentId: job.agentId },
      envelope: {
        v: PROTOCOL_VERSION,
        agentId: job.agentId,
        seq,
        sentAt: now.toISOString(),
        type: MESSAGE_TYPES.workOrder,
        body: order,
      },
    };
  }
}

/**
 * Why a job moves: the agent deferred it; its campaign was paused, or its wave not released, while its window was
 * open; its window ended before it was dispatched; or it was dispatched and no result came back by the window's
 * end (a stuck job: agent offline or silent), which times out and runs again later.
 */
function moveReason(job: { state: string; gated: boolean; paused: boolean }): string {
  if (job.state === 'deferred') return 'DEFERRED';
  if (job.state !== 'planned') return 'TIMEOUT';
  if (job.paused) return 'CAMPAIGN_PAUSED';
  return job.gated ? 'WAVE_NOT_RELEASED' : 'WINDOW_ENDED';
}

/** What the agent does: the campaign's artifact as a firmware update, or its procedure as a checklist. */
function actionOf(job: DueJob): WorkOrderAction {
  if (job.artifact) {
    return {
      kind: 'firmware_update',
      artifact: {
        version: job.artifact.version,
        sha256: job.artifact.sha256,
        sizeBytes: job.artifact.sizeBytes,
        download: `/artifacts/${job.artifact.sha256}`,
      },
    };
  }
  const procedure = job.procedure ?? { title: 'Maintenance', steps: ['Follow the campaign instructions'] };
  return { kind: 'manual_procedure', title: procedure.title, steps: procedure.steps };
}
