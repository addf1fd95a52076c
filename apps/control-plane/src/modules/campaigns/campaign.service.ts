/**
 * Patch campaigns: drafts, the practices' approvals (or their MSP's, where delegated), the plan preview, and the
 * state machine (start persists the plan as jobs; pause, resume, cancel). Planning is the scheduling library's;
 * dispatching the jobs is not this service's.
 */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import {
  describeWindow,
  formatUtc,
  localDateTime,
  planPatchJobs,
  toEpochMs,
  type PatchPlan,
  type PlanSite,
} from '@medfleet/scheduling';
import { ORGANIZATION_ROLES } from '../../common/auth/permissions.js';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import {
  changedBy,
  MaintenanceService,
  type MaintenanceSiteRow,
} from '../maintenance/maintenance.service.js';
import { withSchedulingErrors } from '../maintenance/scheduling-failure.js';
import { waveGate } from '../dispatch/campaign-gate.js';
import { TenantService } from '../tenants/tenant.service.js';
import { assignWaves, definitionProblems, matchingDevices, planJobs, planOptions } from './campaign-plan.js';
import type {
  ApprovalDelegationDto,
  ApproveCampaignDto,
  CampaignState,
  CreateCampaignDto,
  ListCampaignJobsQuery,
  ListCampaignsQuery,
  UpdateCampaignDto,
} from './campaign.dto.js';
import {
  CampaignRepository,
  type ApprovalRow,
  type CampaignDefinition,
  type CampaignRow,
  type TargetDevice,
} from './campaign.repository.js';
import { PatchJobRepository } from './patch-job.repository.js';
import type { PATCH_JOB_STATES } from '../../database/migrations/1764720600000-campaigns.js';

export const CampaignErrorCode = {
  INVALID_CAMPAIGN: 'INVALID_CAMPAIGN',
  CAMPAIGN_INVALID_TRANSITION: 'CAMPAIGN_INVALID_TRANSITION',
  CAMPAIGN_NOT_EDITABLE: 'CAMPAIGN_NOT_EDITABLE',
  CAMPAIGN_NOT_APPROVED: 'CAMPAIGN_NOT_APPROVED',
  APPROVAL_NOT_DELEGATED: 'APPROVAL_NOT_DELEGATED',
  DELEGATION_BY_PRACTICE_ONLY: 'DELEGATION_BY_PRACTICE_ONLY',
  TENANT_NOT_IN_CAMPAIGN: 'TENANT_NOT_IN_CAMPAIGN',
  ORGANIZATION_SCOPE_REQUIRED: 'ORGANIZATION_SCOPE_REQUIRED',
} as const;

/** Which states each action leaves from, and where it goes. */
const TRANSITIONS = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['draft', 'running', 'paused'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly CampaignState[]; to: CampaignState }>;
type Transition = keyof typeof TRANSITIONS;

const DEFAULT_SUCCESS_RATE_PERCENT = 95;
const DEFAULT_HORIZON_DAYS = 28;
/** The preview lists at most this many jobs and unplaced devices (the counts are always whole). */
const PREVIEW_LIST_LIMIT = 2_000;
/** Unplaced jobs kept in the stored plan summary. */
const SUMMARY_UNPLACED_LIMIT = 10_000;

interface ComputedPlan {
  sites: MaintenanceSiteRow[];
  planSites: PlanSite[];
  devices: TargetDevice[];
  plan: PatchPlan;
}

@Injectable()
export class CampaignService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly tenants: TenantService,
    private readonly maintenance: MaintenanceService,
    private readonly campaigns: CampaignRepository,
    private readonly jobs: PatchJobRepository,
    private readonly audit: AuditService,
  ) {}

  create(auth: Principal, dto: CreateCampaignDto) {
    const definition = toDefinition(dto);
    return this.tenantDb.run(auth.scope, async (tx) => {
      requireOrganizationScope(tx, auth);
      await this.checkReach(tx, definition);
      const id = randomUUID();
      await this.campaigns.insert(tx, auth.organizationId, id, definition, changedBy(auth));
      const view = await this.view(tx, await this.require(tx, id));
      await this.audit.record(tx, {
        action: 'campaign.create',
        actor: principalActor(auth),
        target: { type: 'campaign', id },
        after: view,
      });
      return view;
    });
  }

  list(auth: Principal, query: ListCampaignsQuery): Promise<Page<ReturnType<typeof summaryView>>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = await this.campaigns.list(tx, { state: query.state, after, limit: limit + 1 });
      return toPage(
        rows.map((row) => summaryView(tx, row)),
        limit,
      );
    });
  }

  get(auth: Principal, id: string) {
    return this.tenantDb.run(auth.scope, async (tx) => this.view(tx, await this.require(tx, id)));
  }

  update(auth: Principal, id: string, dto: UpdateCampaignDto) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id, true);
      requireOrganizationScope(tx, auth);
      if (row.state !== 'draft') {
        throw new AppException(
          CampaignErrorCode.CAMPAIGN_NOT_EDITABLE,
          HttpStatus.CONFLICT,
          `A ${row.state} campaign cannot be changed; only a draft can`,
          { state: row.state },
        );
      }
      if (Object.keys(dto).length === 0) return this.view(tx, row);
      const before = await this.view(tx, row);
      const definition = toDefinition({ ...storedAsDto(row), ...dto });
      await this.checkReach(tx, definition);
      await this.campaigns.update(tx, row, definition);
      const after = await this.view(tx, await this.require(tx, id));
      await this.audit.record(tx, {
        action: 'campaign.update',
        actor: principalActor(auth),
        target: { type: 'campaign', id },
        before,
        after,
        details: { revision: after.revision, approvalsReset: before.approvals.some((a) => a.approved) },
      });
      return after;
    });
  }

  /**
   * Approves the current revision for tenants: a practice user for their own tenant; an MSP principal only for
   * tenants that have delegated approval to it.
   */
  approve(auth: Principal, id: string, dto: ApproveCampaignDto) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      // Not locked: a practice user may not lock the MSP's row (row security), and need not. An approval names
      // the revision it saw, and counts only while that revision is current.
      const row = await this.require(tx, id);
      if (row.state !== 'draft') {
        throw invalidTransition(row, 'approve');
      }
      const visible = row.tenantIds.filter((tenantId) => tx.tenantIds.includes(tenantId));
      for (const tenantId of dto.tenantIds ?? []) {
        if (!visible.includes(tenantId)) {
          throw new AppException(
            CampaignErrorCode.TENANT_NOT_IN_CAMPAIGN,
            HttpStatus.BAD_REQUEST,
            `Tenant ${tenantId} is not among this campaign's tenants`,
            { tenantId },
          );
        }
      }
      const requested = dto.tenantIds ?? visible;
      const practiceUser = !ORGANIZATION_ROLES.includes(auth.role);
      const delegations = await this.campaigns.delegations(tx, requested);
      const approvable = practiceUser
        ? requested
        : requested.filter((tenantId) => delegations.get(tenantId)?.delegated === true);
      const refused = requested.filter((tenantId) => !approvable.includes(tenantId));
      if (approvable.length === 0 || (dto.tenantIds !== undefined && refused.length > 0)) {
        throw new AppException(
          CampaignErrorCode.APPROVAL_NOT_DELEGATED,
          HttpStatus.FORBIDDEN,
          "A campaign is approved by each practice's administrator, or by the MSP where the practice has delegated it",
          { tenantIds: refused },
        );
      }
      for (const tenantId of approvable) {
        const via = practiceUser ? 'practice' : 'delegated';
        const recorded = await this.campaigns.insertApproval(tx, {
          tenantId,
          campaignId: row.id,
          revision: row.revision,
          via,
          approvedBy: changedBy(auth),
          comment: dto.comment ?? null,
        });
        if (recorded) {
          await this.audit.record(tx, {
            action: 'campaign.approve',
            actor: principalActor(auth),
            tenantId,
            target: { type: 'campaign', id: row.id },
            details: { revision: row.revision, via, comment: dto.comment ?? null, name: row.name },
          });
        }
      }
      return this.view(tx, row);
    });
  }

  /** The plan as it would be if the campaign started now: computed, nothing written. */
  preview(auth: Principal, id: string) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id);
      const computed = await this.computePlan(tx, row, Date.now());
      return previewView(row, computed);
    });
  }

  start(auth: Principal, id: string) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id, true);
      requireOrganizationScope(tx, auth);
      checkTransition(row, 'start');
      const pending = await this.pendingApprovals(tx, row);
      if (pending.length > 0) {
        throw new AppException(
          CampaignErrorCode.CAMPAIGN_NOT_APPROVED,
          HttpStatus.CONFLICT,
          'Every practice of the campaign must approve it (or have delegated approval) before it starts',
          { pendingTenantIds: pending },
        );
      }
      const computed = await this.computePlan(tx, row, Date.now());
      const tenantOf = new Map(computed.devices.map((device) => [device.id, device.tenantId]));
      const written = await this.jobs.insertPlanned(
        tx.db,
        row.id,
        computed.plan.placed.map((planned) => ({ tenantId: tenantOf.get(planned.jobId) as string, planned })),
      );
      const summary = planSummary(computed, written);
      await this.campaigns.setState(tx, row, 'running', { started: true, planSummary: summary });
      await this.audit.record(tx, {
        action: 'campaign.start',
        actor: principalActor(auth),
        target: { type: 'campaign', id: row.id },
        details: { revision: row.revision, jobs: written, unplaced: computed.plan.unplaced.length },
      });
      return this.view(tx, await this.require(tx, id));
    });
  }

  pause(auth: Principal, id: string) {
    return this.move(auth, id, 'pause');
  }

  resume(auth: Principal, id: string) {
    return this.move(auth, id, 'resume');
  }

  cancel(auth: Principal, id: string) {
    return this.move(auth, id, 'cancel');
  }

  /** Job counts by state, wave and site, with each wave's gate and the abort threshold. */
  progress(auth: Principal, id: string) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id);
      const counts = await this.jobs.counts(tx.db, tx.tenantIds, row.id);
      const total = emptyCounts();
      const waves = new Map<number, Record<string, number>>();
      const sites = new Map<string, { tenantId: string; counts: Record<string, number> }>();
      for (const count of counts) {
        add(total, count.state, count.count);
        const wave = waves.get(count.wave) ?? emptyCounts();
        waves.set(count.wave, add(wave, count.state, count.count));
        const site = sites.get(count.siteId) ?? { tenantId: count.tenantId, counts: emptyCounts() };
        add(site.counts, count.state, count.count);
        sites.set(count.siteId, site);
      }
      // The threshold counts from where an operator last resumed an aborted campaign.
      const executed = total.succeeded + total.failed - row.abortBaseline.executed;
      const failed = total.failed - row.abortBaseline.failed;
      const failurePercent = executed <= 0 ? 0 : (failed * 100) / executed;
      return {
        campaignId: row.id,
        state: row.state,
        pauseReason: row.state === 'paused' ? row.pauseReason : null,
        releasedWave: row.releasedWave,
        total: total.total,
        byState: withoutTotal(total),
        waves: row.waves.map((definition, wave) => {
          const stateCounts = waves.get(wave) ?? emptyCounts();
          const gate = waveGate(stateCounts, definition.successRatePercent);
          return {
            wave,
            kind: definition.percent === undefined ? 'canary' : 'percentage',
            released: wave <= row.releasedWave,
            total: stateCounts.total,
            byState: withoutTotal(stateCounts),
            successRatePercent: gate.successRatePercent,
            gatePercent: definition.successRatePercent,
            // The dispatcher's own judgement of the gate.
            gate: gate.state,
          };
        }),
        sites: [...sites.entries()]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([siteId, site]) => ({
            siteId,
            tenantId: site.tenantId,
            total: site.counts.total,
            byState: withoutTotal(site.counts),
          })),
        abort: {
          ...row.abortPolicy,
          countsFrom: row.abortBaseline,
          executed,
          failed,
          failurePercent,
          reached:
            executed >= row.abortPolicy.minExecuted && failurePercent >= row.abortPolicy.failurePercent,
        },
      };
    });
  }

  /** The campaign's jobs (those of the caller's tenants), one page in id order. */
  listJobs(auth: Principal, id: string, query: ListCampaignJobsQuery) {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id);
      const rows = await this.jobs.list(tx.db, tx.tenantIds, row.id, {
        state: query.state,
        siteId: query.siteId,
        wave: query.wave,
        after,
        limit: limit + 1,
      });
      return toPage(rows, limit);
    });
  }

  getDelegation(auth: Principal, tenantId: string) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      await this.tenants.require(tx, tenantId);
      const setting = (await this.campaigns.delegations(tx, [tenantId])).get(tenantId);
      return {
        tenantId,
        delegated: setting?.delegated ?? false,
        updatedBy: setting?.updatedBy ?? null,
        updatedAt: setting?.updatedAt ?? null,
      };
    });
  }

  /** Only the practice itself may hand its approval to the MSP (or take it back). */
  setDelegation(auth: Principal, tenantId: string, dto: ApprovalDelegationDto) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      await this.tenants.require(tx, tenantId);
      if (ORGANIZATION_ROLES.includes(auth.role)) {
        throw new AppException(
          CampaignErrorCode.DELEGATION_BY_PRACTICE_ONLY,
          HttpStatus.FORBIDDEN,
          "Only the practice's own administrator may delegate its campaign approval",
          { tenantId },
        );
      }
      const before = (await this.campaigns.delegations(tx, [tenantId])).get(tenantId)?.delegated ?? false;
      await this.campaigns.saveDelegation(tx, tenantId, dto.delegated, changedBy(auth));
      await this.audit.record(tx, {
        action: 'campaign_approval.delegate',
        actor: principalActor(auth),
        tenantId,
        target: { type: 'tenant', id: tenantId },
        before: { delegated: before },
        after: { delegated: dto.delegated },
      });
      return { tenantId, delegated: dto.delegated };
    });
  }

  private move(auth: Principal, id: string, action: Exclude<Transition, 'start'>) {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const row = await this.require(tx, id, true);
      requireOrganizationScope(tx, auth);
      checkTransition(row, action);
      const to = TRANSITIONS[action].to;
      const cancelledJobs = action === 'cancel' ? await this.jobs.cancelOpen(tx.db, tx.tenantIds, row.id) : 0;
      const extra =
        action === 'pause'
          ? {
              pauseReason: {
                code: 'OPERATOR' as const,
                detail: `paused by ${changedBy(auth)}`,
                at: new Date().toISOString(),
              },
            }
          : action === 'resume'
            ? await this.resumeOverride(tx, row)
            : { finished: true };
      await this.campaigns.setState(tx, row, to, extra);
      await this.audit.record(tx, {
        action: `campaign.${action}`,
        actor: principalActor(auth),
        target: { type: 'campaign', id: row.id },
        before: { state: row.state, ...(row.pauseReason ? { pauseReason: row.pauseReason.code } : {}) },
        after: { state: to },
        ...(action === 'cancel' ? { details: { cancelledJobs } } : {}),
        ...(action === 'resume' && 'releasedWave' in extra
          ? { details: { gateOverridden: { wave: row.releasedWave, released: extra.releasedWave } } }
          : {}),
        ...(action === 'resume' && 'abortBaseline' in extra
          ? { details: { abortCountsFrom: extra.abortBaseline } }
          : {}),
      });
      return this.view(tx, await this.require(tx, id));
    });
  }

  /**
   * Resuming is the operator's decision over the dispatcher's: after a failed gate, the wave after it is released
   * anyway; after the abort threshold, the threshold counts again from the jobs run so far.
   */
  private async resumeOverride(
    tx: TenantTx,
    row: CampaignRow,
  ): Promise<{
    pauseReason: null;
    releasedWave?: number;
    abortBaseline?: CampaignRow['abortBaseline'];
  }> {
    const reason = row.pauseReason;
    if (reason?.code === 'GATE_FAILED' && typeof reason['nextWave'] === 'number') {
      return { pauseReason: null, releasedWave: Math.max(row.releasedWave, reason['nextWave']) };
    }
    if (reason?.code === 'ABORT_THRESHOLD') {
      let executed = 0;
      let failed = 0;
      for (const count of await this.jobs.counts(tx.db, tx.tenantIds, row.id)) {
        if (count.state === 'succeeded' || count.state === 'failed') executed += count.count;
        if (count.state === 'failed') failed += count.count;
      }
      return { pauseReason: null, abortBaseline: { executed, failed } };
    }
    return { pauseReason: null };
  }

  private async require(tx: TenantTx, id: string, forUpdate = false): Promise<CampaignRow> {
    const row = await this.campaigns.find(tx, id, forUpdate);
    if (!row) throw AppException.notFound('campaign', id);
    return row;
  }

  /** The tenants must be the organization's, and the sites theirs. */
  private async checkReach(tx: TenantTx, definition: CampaignDefinition): Promise<void> {
    for (const tenantId of definition.tenantIds) await this.tenants.require(tx, tenantId);
    const problems = definitionProblems(definition);
    const requested = new Set([...definition.siteIds, ...(definition.waves[0]?.canarySiteIds ?? [])]);
    if (requested.size > 0) {
      const found = new Set(
        (await this.campaigns.sites(tx, definition.tenantIds, [...requested])).map((site) => site.id),
      );
      for (const siteId of requested) {
        if (!found.has(siteId)) problems.push(`site ${siteId} is not a site of the campaign's tenants`);
      }
    }
    if (problems.length > 0) throw invalidCampaign(problems);
  }

  private async pendingApprovals(tx: TenantTx, row: CampaignRow): Promise<string[]> {
    const approved = new Set(
      (await this.campaigns.approvals(tx, row.id))
        .filter((approval) => approval.revision === row.revision)
        .map((approval) => approval.tenantId),
    );
    return row.tenantIds.filter((tenantId) => !approved.has(tenantId));
  }

  private async computePlan(tx: TenantTx, row: CampaignRow, nowMs: number): Promise<ComputedPlan> {
    const sites = await this.campaigns.sites(tx, row.tenantIds, row.siteIds);
    const candidates = await this.campaigns.targetDevices(
      tx,
      row.tenantIds,
      sites.map((site) => site.id),
      row.target.vendor,
      row.target.models ?? [],
    );
    const devices = matchingDevices(row, candidates);
    const planSites = await this.maintenance.planSites(tx, sites);
    const jobs = planJobs(devices, assignWaves(row.waves, devices));
    const plan = withSchedulingErrors(() => planPatchJobs(planSites, jobs, planOptions(row, nowMs)));
    return { sites, planSites, devices, plan };
  }

  /** The waves with canary sites and devices cut down to those the transaction can see. */
  private async ownCanaries(tx: TenantTx, row: CampaignRow): Promise<CampaignDefinition['waves']> {
    const canary = row.waves[0];
    if (!canary || (!canary.canarySiteIds && !canary.canaryDeviceIds)) return row.waves;
    const sites = new Set(
      (await this.campaigns.sites(tx, row.tenantIds, canary.canarySiteIds ?? [randomUUID()])).map(
        (site) => site.id,
      ),
    );
    const devices = new Set(
      canary.canaryDeviceIds ? await this.campaigns.visibleDeviceIds(tx, canary.canaryDeviceIds) : [],
    );
    const own = {
      ...canary,
      ...(canary.canarySiteIds ? { canarySiteIds: canary.canarySiteIds.filter((id) => sites.has(id)) } : {}),
      ...(canary.canaryDeviceIds
        ? { canaryDeviceIds: canary.canaryDeviceIds.filter((id) => devices.has(id)) }
        : {}),
    };
    return [own, ...row.waves.slice(1)];
  }

  private async view(tx: TenantTx, row: CampaignRow) {
    const approvals = await this.campaigns.approvals(tx, row.id);
    const visible = row.tenantIds.filter((tenantId) => tx.tenantIds.includes(tenantId));
    const delegations = await this.campaigns.delegations(tx, visible);
    const current = new Map<string, ApprovalRow>();
    for (const approval of approvals)
      if (approval.revision === row.revision) current.set(approval.tenantId, approval);
    const siteIds =
      row.siteIds.length === 0
        ? []
        : (await this.campaigns.sites(tx, row.tenantIds, row.siteIds)).map((site) => site.id);
    // A practice user sees the campaign as it reaches its own tenant: no other practice's sites or devices.
    const organizationWide = tx.organizationId === row.organizationId;
    const waves = organizationWide ? row.waves : await this.ownCanaries(tx, row);
    return {
      ...summaryView(tx, row),
      siteIds,
      description: row.description,
      target: row.target,
      artifact: row.artifact,
      procedure: row.procedure,
      waves,
      abort: row.abortPolicy,
      catchUp: row.catchUp,
      durations: row.durations,
      earliestStart: row.earliestStart,
      horizonDays: row.horizonDays,
      approvals: visible.map((tenantId) => {
        const approval = current.get(tenantId);
        return {
          tenantId,
          delegated: delegations.get(tenantId)?.delegated ?? false,
          approved: approval !== undefined,
          via: approval?.via ?? null,
          approvedBy: approval?.approvedBy ?? null,
          approvedAt: approval?.approvedAt ?? null,
          comment: approval?.comment ?? null,
        };
      }),
      // The stored summary spans every practice; practices read their part through progress and the calendar.
      planSummary: organizationWide ? row.planSummary : null,
    };
  }
}

function requireOrganizationScope(tx: TenantTx, auth: Principal): void {
  if (tx.organizationId !== auth.organizationId) {
    throw new AppException(
      CampaignErrorCode.ORGANIZATION_SCOPE_REQUIRED,
      HttpStatus.FORBIDDEN,
      'Campaigns are run by principals with organization-wide access',
    );
  }
}

function invalidTransition(row: CampaignRow, action: string): AppException {
  return new AppException(
    CampaignErrorCode.CAMPAIGN_INVALID_TRANSITION,
    HttpStatus.CONFLICT,
    `A ${row.state} campaign cannot ${action}`,
    { state: row.state, action },
  );
}

function checkTransition(row: CampaignRow, action: Transition): void {
  if (!(TRANSITIONS[action].from as readonly CampaignState[]).includes(row.state)) {
    throw invalidTransition(row, action);
  }
}

function invalidCampaign(problems: string[]): AppException {
  return new AppException(
    CampaignErrorCode.INVALID_CAMPAIGN,
    HttpStatus.BAD_REQUEST,
    `invalid campaign: ${problems[0] ?? 'unknown problem'}`,
    { problems },
  );
}

function toDefinition(dto: CreateCampaignDto): CampaignDefinition {
  const earliestStart =
    dto.earliestStart === undefined
      ? null
      : new Date(withSchedulingErrors(() => toEpochMs(dto.earliestStart as string, 'earliestStart')));
  const gate = dto.successRatePercent ?? DEFAULT_SUCCESS_RATE_PERCENT;
  return {
    name: dto.name,
    description: dto.description ?? null,
    tenantIds: dto.tenantIds,
    siteIds: dto.siteIds ?? [],
    target: plain(dto.target),
    artifact: dto.artifact ? plain(dto.artifact) : null,
    procedure: dto.procedure ? plain(dto.procedure) : null,
    waves: dto.waves.map((wave) => ({ ...plain(wave), successRatePercent: wave.successRatePercent ?? gate })),
    abortPolicy: plain(dto.abort),
    catchUp: plain(dto.catchUp),
    durations: plain(dto.durations),
    earliestStart,
    horizonDays: dto.horizonDays ?? DEFAULT_HORIZON_DAYS,
  };
}

/** A stored definition in the DTO's shape, so a partial update can be merged over it. */
function storedAsDto(row: CampaignRow): CreateCampaignDto {
  return {
    name: row.name,
    ...(row.description !== null ? { description: row.description } : {}),
    tenantIds: row.tenantIds,
    siteIds: row.siteIds,
    target: row.target,
    ...(row.artifact ? { artifact: row.artifact } : {}),
    ...(row.procedure ? { procedure: row.procedure } : {}),
    waves: row.waves,
    abort: row.abortPolicy,
    catchUp: row.catchUp,
    durations: row.durations,
    ...(row.earliestStart ? { earliestStart: row.earliestStart.toISOString() } : {}),
    horizonDays: row.horizonDays,
  };
}

/** A validated DTO instance as plain JSON (no class prototype, no undefined keys). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function summaryView(tx: TenantTx, row: CampaignRow) {
  return {
    id: row.id,
    organizationId: row.organizationId,
    name: row.name,
    state: row.state,
    // Why it is paused: OPERATOR, GATE_FAILED (with the wave and its rate) or ABORT_THRESHOLD (with the figures).
    pauseReason: row.state === 'paused' ? row.pauseReason : null,
    releasedWave: row.releasedWave,
    revision: row.revision,
    // A practice user sees only its own tenant of a campaign that reaches several.
    tenantIds: row.tenantIds.filter((tenantId) => tx.tenantIds.includes(tenantId)),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
  };
}

function planSummary(computed: ComputedPlan, written: number) {
  const reasons: Record<string, number> = {};
  for (const job of computed.plan.unplaced) reasons[job.reason] = (reasons[job.reason] ?? 0) + 1;
  return {
    devices: computed.devices.length,
    jobs: written,
    unplaced: computed.plan.unplaced.length,
    unplacedByReason: reasons,
    unplacedJobs: computed.plan.unplaced.slice(0, SUMMARY_UNPLACED_LIMIT).map((job) => ({
      deviceId: job.jobId,
      siteId: job.siteId,
      wave: job.wave,
      reason: job.reason,
      detail: job.detail,
    })),
    waves: wavesView(computed.plan),
    earliestStart: formatUtc(computed.plan.earliestStartMs),
    horizonEnd: formatUtc(computed.plan.horizonEndMs),
  };
}

function wavesView(plan: PatchPlan) {
  return plan.waves.map((wave) => ({
    wave: wave.wave,
    placed: wave.placed,
    unplaced: wave.unplaced,
    notBefore: formatUtc(wave.notBeforeMs),
    firstStart: wave.firstStartMs === null ? null : formatUtc(wave.firstStartMs),
    lastEnd: wave.lastEndMs === null ? null : formatUtc(wave.lastEndMs),
  }));
}

/** Which devices, which nights, which sites — and what could not be placed, with the reason. */
function previewView(row: CampaignRow, computed: ComputedPlan) {
  const { plan, sites } = computed;
  const siteById = new Map(sites.map((site) => [site.id, site]));
  const tenantOf = new Map(computed.devices.map((device) => [device.id, device.tenantId]));
  const bySite = new Map<string, { devices: number; placed: number; nights: Map<string, number> }>();
  for (const site of sites) bySite.set(site.id, { devices: 0, placed: 0, nights: new Map() });
  for (const device of computed.devices) {
    const entry = bySite.get(device.siteId);
    if (entry) entry.devices++;
  }
  const nightWindows = new Map<string, { startMs: number; endMs: number }>();
  for (const job of plan.placed) {
    const entry = bySite.get(job.siteId);
    if (!entry) continue;
    entry.placed++;
    const key = `${job.windowLocalDate}|${job.windowStartMs}|${job.windowEndMs}`;
    entry.nights.set(key, (entry.nights.get(key) ?? 0) + 1);
    nightWindows.set(key, { startMs: job.windowStartMs, endMs: job.windowEndMs });
  }
  return {
    campaignId: row.id,
    revision: row.revision,
    earliestStart: formatUtc(plan.earliestStartMs),
    horizonEnd: formatUtc(plan.horizonEndMs),
    devices: computed.devices.length,
    placed: plan.placed.length,
    unplacedCount: plan.unplaced.length,
    waves: wavesView(plan),
    sites: [...bySite.entries()]
      .filter(([, entry]) => entry.devices > 0)
      .map(([siteId, entry]) => {
        const site = siteById.get(siteId) as MaintenanceSiteRow;
        return {
          siteId,
          tenantId: site.tenantId,
          timeZone: site.timeZone,
          devices: entry.devices,
          placed: entry.placed,
          nights: [...entry.nights.entries()].map(([key, jobs]) => {
            const window = nightWindows.get(key) as { startMs: number; endMs: number };
            const localDate = key.split('|')[0] as string;
            return { ...describeWindow({ localDate, ...window }, site.timeZone), jobs };
          }),
        };
      }),
    jobs: plan.placed.slice(0, PREVIEW_LIST_LIMIT).map((job) => {
      const zone = (siteById.get(job.siteId) as MaintenanceSiteRow).timeZone;
      return {
        deviceId: job.jobId,
        tenantId: tenantOf.get(job.jobId),
        siteId: job.siteId,
        wave: job.wave,
        night: job.windowLocalDate,
        startUtc: formatUtc(job.startMs),
        endUtc: formatUtc(job.endMs),
        startLocal: localDateTime(job.startMs, zone),
        endLocal: localDateTime(job.endMs, zone),
        windowStartUtc: formatUtc(job.windowStartMs),
        windowEndUtc: formatUtc(job.windowEndMs),
      };
    }),
    jobsTruncated: plan.placed.length > PREVIEW_LIST_LIMIT,
    unplaced: plan.unplaced.slice(0, PREVIEW_LIST_LIMIT).map((job) => ({
      deviceId: job.jobId,
      tenantId: tenantOf.get(job.jobId),
      siteId: job.siteId,
      wave: job.wave,
      reason: job.reason,
      detail: job.detail,
    })),
  };
}

type JobState = (typeof PATCH_JOB_STATES)[number];

function emptyCounts(): Record<JobState | 'total', number> {
  return {
    total: 0,
    planned: 0,
    dispatched: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    deferred: 0,
    cancelled: 0,
  };
}

function add<T extends Record<string, number>>(counts: T, state: string, count: number): T {
  (counts as Record<string, number>)[state] = ((counts as Record<string, number>)[state] ?? 0) + count;
  (counts as Record<string, number>)['total'] = ((counts as Record<string, number>)['total'] ?? 0) + count;
  return counts;
}

function withoutTotal(counts: Record<string, number>): Record<string, number> {
  const { total: _total, ...rest } = counts;
  return rest;
}
