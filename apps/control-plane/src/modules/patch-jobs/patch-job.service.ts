/**
 * Patch jobs as people work with them: the jobs of the caller's tenants (and the technician's worklist of jobs
 * waiting on a manual procedure), one job with its device, site and window, its history, and the technician's
 * confirmation that ends a manual job. Planning jobs is the campaigns module's; dispatching them and applying the
 * agents' reports is the dispatch module's.
 */
import { HttpStatus, Injectable } from '@nestjs/common';
import { describeWindow, formatUtc, localDateTime, rolloverJob, type PlanSite } from '@medfleet/scheduling';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import {
  decodeCursor,
  decodeSeqCursor,
  toPage,
  toSeqPage,
  type Page,
  type PageQuery,
} from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { DispatchClock } from '../dispatch/dispatch-clock.js';
import { DispatchRepository } from '../dispatch/dispatch.repository.js';
import { changedBy, MaintenanceService } from '../maintenance/maintenance.service.js';
import type { ConfirmPatchJobDto, ListPatchJobsQuery } from './patch-job.dto.js';
import {
  PatchJobApiRepository,
  WAITING_MANUAL,
  type JobEventRow,
  type OperatorJob,
  type PatchJobRow,
  type TechnicianReport,
} from './patch-job-api.repository.js';

export const PatchJobErrorCode = {
  JOB_NOT_WAITING_MANUAL: 'JOB_NOT_WAITING_MANUAL',
  FIRMWARE_VERSION_REQUIRED: 'FIRMWARE_VERSION_REQUIRED',
  JOB_NOT_HELD: 'JOB_NOT_HELD',
  JOB_NOT_CANCELLABLE: 'JOB_NOT_CANCELLABLE',
  CAMPAIGN_NOT_ACTIVE: 'CAMPAIGN_NOT_ACTIVE',
  NO_WINDOW_LEFT: 'NO_WINDOW_LEFT',
} as const;

/** The failure reason of a job the technician reports failed (the contract's, as an agent would report it). */
const TECHNICIAN_REPORTED_FAILURE = 'TECHNICIAN_REPORTED_FAILURE';

export type PatchJobView = ReturnType<typeof jobView>;

@Injectable()
export class PatchJobService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly jobs: PatchJobApiRepository,
    private readonly audit: AuditService,
    private readonly maintenance: MaintenanceService,
    private readonly dispatch: DispatchRepository,
    private readonly clock: DispatchClock,
  ) {}

  list(auth: Principal, query: ListPatchJobsQuery): Promise<Page<PatchJobView>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const rows = await this.jobs.list(tx, {
        tenantId: query.tenantId,
        siteId: query.siteId,
        campaignId: query.campaignId,
        state: query.state,
        waitingManual: query.waitingManual,
        after,
        limit: limit + 1,
      });
      return toPage(rows.map(jobView), limit);
    });
  }

  get(auth: Principal, id: string): Promise<PatchJobView> {
    return this.tenantDb.run(auth.scope, async (tx) => jobView(await this.require(tx, id)));
  }

  /** The job's events in the order recorded, one page. */
  history(auth: Principal, id: string, query: PageQuery): Promise<Page<JobEventRow>> {
    const limit = query.limit ?? 100;
    const after = decodeSeqCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const job = await this.require(tx, id);
      return toSeqPage(await this.jobs.history(tx, job, after, limit + 1), limit);
    });
  }

  /**
   * Ends a job that waits for a technician, as they report it. The job's row is locked first, so of two
   * confirmations (or a confirmation and the dispatcher's rollover) one wins and the other finds the job ended.
   */
  confirm(auth: Principal, id: string, dto: ConfirmPatchJobDto): Promise<PatchJobView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const locked = await this.jobs.lock(tx, id);
      if (!locked) throw AppException.notFound('patch job', id);
      if (locked.state !== 'running' || locked.agentState !== WAITING_MANUAL) {
        throw new AppException(
          PatchJobErrorCode.JOB_NOT_WAITING_MANUAL,
          HttpStatus.CONFLICT,
          `Only a job waiting for a technician can be confirmed; this one is ${locked.state}`,
          { state: locked.state, agentState: locked.agentState },
        );
      }
      const before = await this.require(tx, id);
      const expectedVersion = before.procedure?.version;
      if (dto.outcome === 'succeeded' && expectedVersion !== undefined && dto.firmwareVersion === undefined) {
        throw new AppException(
          PatchJobErrorCode.FIRMWARE_VERSION_REQUIRED,
          HttpStatus.BAD_REQUEST,
          `The procedure installs firmware ${expectedVersion}: confirm the version the device reports now`,
          { expectedVersion },
        );
      }
      const at = new Date();
      const reason = dto.outcome === 'failed' ? TECHNICIAN_REPORTED_FAILURE : null;
      const report: TechnicianReport = {
        state: dto.outcome,
        reason,
        firmwareVersion: dto.firmwareVersion ?? null,
        note: dto.note ?? null,
        // The same shape as an agent's report (`agentState` aside), so readers of `result` find the reason and
        // firmware where they always are.
        result: {
          source: 'technician',
          technician: changedBy(auth),
          ...(reason ? { reason } : {}),
          ...(dto.firmwareVersion !== undefined ? { firmwareVersion: dto.firmwareVersion } : {}),
          ...(dto.note !== undefined ? { note: dto.note } : {}),
          at: formatUtc(at.getTime()),
        },
        at,
      };
      await this.jobs.recordTechnicianReport(tx, locked, report);
      const after = jobView(await this.require(tx, id));
      await this.audit.record(tx, {
        action: 'patch_job.confirm',
        actor: principalActor(auth),
        tenantId: locked.tenantId,
        target: { type: 'patch_job', id },
        before: { state: before.state, agentState: before.agentState, result: before.result },
        after: { state: after.state, result: after.result },
        details: {
          campaignId: before.campaignId,
          deviceId: before.deviceId,
          siteId: before.siteId,
          attempt: locked.attempt,
          outcome: dto.outcome,
        },
      });
      return after;
    });
  }

  /**
   * Puts a job held for an operator (the campaign's catch-up policy holds missed or deferred jobs, or it ran out of
   * rollovers) back in the plan: the earliest slot from now where it fits whole, within the site's windows,
   * blackouts and concurrency limit, whatever the policy that held it. The rollovers it used are kept.
   */
  retry(auth: Principal, id: string): Promise<PatchJobView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const job = await this.lockOperatorJob(tx, id);
      if (job.state !== 'deferred' || !job.held) {
        throw new AppException(
          PatchJobErrorCode.JOB_NOT_HELD,
          HttpStatus.CONFLICT,
          `Only a job held for an operator can be put back in the plan; this one is ${job.state}`,
          { state: job.state },
        );
      }
      const now = this.clock.now();
      const [site] = await this.maintenance.planSites(tx, [
        { tenantId: job.tenantId, id: job.siteId, county: job.county, timeZone: job.timeZone },
      ]);
      const busy = await this.dispatch.busyIntervals(tx, job.tenantId, job.siteId, now, [job.id]);
      const placed = rolloverJob({
        site: site as PlanSite,
        now: now.getTime(),
        catchUp: { mode: 'next-window' },
        busy,
        job: {
          jobId: job.id,
          siteId: job.siteId,
          wave: job.wave,
          durationMs: job.plannedEnd.getTime() - job.plannedStart.getTime(),
          rollovers: job.rollovers,
        },
        cause: 'held',
      });
      if (placed.status === 'unplaced') {
        throw new AppException(
          PatchJobErrorCode.NO_WINDOW_LEFT,
          HttpStatus.CONFLICT,
          `No window has room for the job: ${placed.job.detail}`,
          { reason: placed.job.reason },
        );
      }
      const by = changedBy(auth);
      await this.dispatch.movePlanned(tx, job.tenantId, job.id, placed.job, placed.rollovers);
      await this.jobs.markReplanned(tx, job, by, now);
      return this.recordOperatorAction(tx, auth, job, 'patch_job.retry', {
        heldReason: job.heldReason,
        windowStart: formatUtc(placed.job.windowStartMs),
      });
    });
  }

  /** Cancels a job not handed to an agent (planned, or deferred): the campaign goes on without it. */
  cancel(auth: Principal, id: string, note: string | undefined): Promise<PatchJobView> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const job = await this.lockOperatorJob(tx, id);
      if (job.state !== 'planned' && job.state !== 'deferred') {
        throw new AppException(
          PatchJobErrorCode.JOB_NOT_CANCELLABLE,
          HttpStatus.CONFLICT,
          job.state === 'dispatched' || job.state === 'running'
            ? 'The job is with the agent; it ends there (or times out at its window end)'
            : `The job has ended (${job.state})`,
          { state: job.state },
        );
      }
      await this.jobs.cancel(tx, job, changedBy(auth), note ?? null, this.clock.now());
      return this.recordOperatorAction(tx, auth, job, 'patch_job.cancel', { note: note ?? null });
    });
  }

  private async lockOperatorJob(tx: TenantTx, id: string): Promise<OperatorJob> {
    const job = await this.jobs.lockForOperator(tx, id);
    if (!job) throw AppException.notFound('patch job', id);
    if (job.campaignState !== 'running' && job.campaignState !== 'paused') {
      throw new AppException(
        PatchJobErrorCode.CAMPAIGN_NOT_ACTIVE,
        HttpStatus.CONFLICT,
        `The job's campaign is ${job.campaignState}`,
        { campaignState: job.campaignState },
      );
    }
    return job;
  }

  private async recordOperatorAction(
    tx: TenantTx,
    auth: Principal,
    job: OperatorJob,
    action: 'patch_job.retry' | 'patch_job.cancel',
    details: Record<string, unknown>,
  ): Promise<PatchJobView> {
    const after = jobView(await this.require(tx, job.id));
    await this.audit.record(tx, {
      action,
      actor: principalActor(auth),
      tenantId: job.tenantId,
      target: { type: 'patch_job', id: job.id },
      before: { state: job.state },
      after: { state: after.state },
      details: { campaignId: after.campaign.id, siteId: job.siteId, ...details },
    });
    return after;
  }

  private async require(tx: TenantTx, id: string): Promise<PatchJobRow> {
    const row = await this.jobs.find(tx, id);
    if (!row) throw AppException.notFound('patch job', id);
    return row;
  }
}

/** A job as the API answers it: times in UTC and in the site's local time, with the offset in force. */
function jobView(row: PatchJobRow) {
  const zone = row.timeZone;
  const waitingManual = row.state === 'running' && row.agentState === WAITING_MANUAL;
  return {
    id: row.id,
    tenantId: row.tenantId,
    state: row.state,
    /** Running, and the agent handed the job to a technician: confirm it with POST /patch-jobs/{id}/confirm. */
    waitingManual,
    agentState: row.agentState,
    attempt: row.attempt,
    wave: row.wave,
    rollovers: row.rollovers,
    agentId: row.agentId,
    campaign: {
      id: row.campaignId,
      name: row.campaignName,
      state: row.campaignState,
      action: row.procedure ? 'manual_procedure' : 'firmware_update',
      artifactVersion: row.artifactVersion,
    },
    /** The technician's checklist: the campaign's procedure (null for a firmware update). */
    checklist: row.procedure
      ? { title: row.procedure.title, steps: row.procedure.steps, version: row.procedure.version ?? null }
      : null,
    site: { id: row.siteId, name: row.siteName, timeZone: zone },
    device: {
      id: row.deviceId,
      vendor: row.deviceVendor,
      model: row.deviceModel,
      firmwareVersion: row.deviceFirmwareVersion,
      mac: row.deviceMac,
      ip: row.deviceIp,
      serial: row.deviceSerial,
      category: row.deviceCategory,
    },
    window: describeWindow(
      { localDate: row.night, startMs: row.windowStart.getTime(), endMs: row.windowEnd.getTime() },
      zone,
    ),
    planned: {
      startUtc: formatUtc(row.plannedStart.getTime()),
      endUtc: formatUtc(row.plannedEnd.getTime()),
      startLocal: localDateTime(row.plannedStart.getTime(), zone),
      endLocal: localDateTime(row.plannedEnd.getTime(), zone),
    },
    deadline: row.deadline,
    stateChangedAt: row.stateChangedAt,
    dispatchedAt: row.dispatchedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    lastProgressAt: row.lastProgressAt,
    result: row.result,
  };
}
