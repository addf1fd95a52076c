/**
 * Site maintenance policies, blackouts (a site's own, a county's, the whole organization's) and the per-site
 * calendar of window instances. The window math is the scheduling library's; this service stores, scopes and
 * audits.
 */
import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import {
  blackoutsForSite,
  compileBlackouts,
  DAY_MS,
  DEFAULT_MAX_CONCURRENT_JOBS,
  DEFAULT_WINDOW,
  describeWindow,
  formatUtc,
  maintenanceWindows,
  policyProblems,
  toEpochMs,
  WEEKDAYS,
  type Blackout,
  type MaintenancePolicy,
  type PlanSite,
} from '@medfleet/scheduling';
import type { Principal } from '../../common/auth/principal.js';
import { AppException } from '../../common/errors/app-exception.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination.js';
import { TenantDb, type TenantTx } from '../../database/tenant-db.js';
import { principalActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { SiteService } from '../sites/site.service.js';
import type {
  BlackoutPeriodDto,
  CreateOrganizationBlackoutDto,
  CreateSiteBlackoutDto,
  ListOrganizationBlackoutsQuery,
  MaintenancePolicyDto,
  MaintenanceWindowsQuery,
  UpdateBlackoutDto,
} from './maintenance.dto.js';
import {
  MaintenanceRepository,
  toLibraryBlackout,
  type BlackoutPeriod,
  type BlackoutRecord,
  type CalendarJob,
} from './maintenance.repository.js';
import { withSchedulingErrors } from './scheduling-failure.js';

/** The longest calendar one request may ask for. */
export const MAX_CALENDAR_DAYS = 92;
const DEFAULT_CALENDAR_DAYS = 14;

/** What the planner and the calendar need to know about a site. */
export interface MaintenanceSiteRow {
  tenantId: string;
  id: string;
  county: string | null;
  timeZone: string;
}

export interface PolicyView {
  siteId: string;
  tenantId: string;
  timeZone: string;
  county: string | null;
  /** True while the site has no policy of its own (the default applies). */
  isDefault: boolean;
  policy: Required<Pick<MaintenancePolicy, 'window' | 'maxConcurrentJobs'>> &
    Pick<MaintenancePolicy, 'weekdays'>;
  updatedBy: string | null;
  updatedAt: Date | null;
}

/** A label for who changed a row (the audit trail has the full actor). */
export function changedBy(auth: Principal): string {
  return auth.userId ? `user:${auth.userId}` : `${auth.kind}:${auth.id}`;
}

@Injectable()
export class MaintenanceService {
  constructor(
    private readonly tenantDb: TenantDb,
    private readonly sites: SiteService,
    private readonly repository: MaintenanceRepository,
    private readonly audit: AuditService,
  ) {}

  getPolicy(auth: Principal, siteId: string): Promise<PolicyView> {
    return this.tenantDb.run(auth.scope, async (tx) => this.policyView(tx, siteId));
  }

  putPolicy(auth: Principal, siteId: string, dto: MaintenancePolicyDto): Promise<PolicyView> {
    const policy = checkedPolicy(dto);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.policyView(tx, siteId);
      await this.repository.savePolicy(tx, before.tenantId, siteId, policy, changedBy(auth));
      const after = await this.policyView(tx, siteId);
      await this.audit.record(tx, {
        action: 'maintenance_policy.update',
        actor: principalActor(auth),
        tenantId: after.tenantId,
        target: { type: 'site', id: siteId },
        before: before.isDefault ? null : before.policy,
        after: after.policy,
      });
      return after;
    });
  }

  /** The site's window instances in [from, to), in UTC and site-local time, with the jobs planned in them. */
  calendar(auth: Principal, siteId: string, query: MaintenanceWindowsQuery) {
    const fromMs = withSchedulingErrors(() =>
      query.from === undefined ? Date.now() : toEpochMs(query.from, 'from'),
    );
    const toMs = withSchedulingErrors(() =>
      query.to === undefined ? fromMs + DEFAULT_CALENDAR_DAYS * DAY_MS : toEpochMs(query.to, 'to'),
    );
    if (!(toMs > fromMs) || toMs - fromMs > MAX_CALENDAR_DAYS * DAY_MS) {
      throw new AppException(
        'INVALID_RANGE',
        HttpStatus.BAD_REQUEST,
        `to must be after from, and at most ${MAX_CALENDAR_DAYS} days later`,
        { from: query.from ?? null, to: query.to ?? null },
      );
    }
    return this.tenantDb.run(auth.scope, async (tx) => {
      const site = await this.sites.require(tx, siteId);
      const [planSite] = await this.planSites(tx, [site]);
      const blackouts = planSite?.blackouts ?? [];
      const windows = withSchedulingErrors(() =>
        maintenanceWindows(planSite as PlanSite, { from: fromMs, to: toMs }, blackouts),
      );
      // Windows are whole, so they may reach beyond the range; jobs are looked up over both.
      const jobs = await this.repository.jobsAt(
        tx,
        site.tenantId,
        site.id,
        new Date(Math.min(fromMs, windows[0]?.startMs ?? fromMs)),
        new Date(Math.max(toMs, windows[windows.length - 1]?.endMs ?? toMs)),
      );
      const placed = new Set<CalendarJob>();
      const windowViews = windows.map((window) => {
        const inside = jobs.filter((job) => {
          const start = job.plannedStart.getTime();
          return start >= window.startMs && start < window.endMs;
        });
        for (const job of inside) placed.add(job);
        return { ...describeWindow(window, site.timeZone), clipped: window.clipped, jobs: inside };
      });
      return {
        siteId: site.id,
        tenantId: site.tenantId,
        timeZone: site.timeZone,
        from: formatUtc(fromMs),
        to: formatUtc(toMs),
        policy: effectivePolicy(planSite?.policy),
        blackouts: blackouts.map((blackout) => blackout.id),
        windows: windowViews,
        // Jobs whose window is gone (a blackout declared after planning): shown, never silently dropped.
        jobsOutsideWindows: jobs.filter(
          (job) => !placed.has(job) && job.plannedStart.getTime() < toMs && job.plannedEnd.getTime() > fromMs,
        ),
      };
    });
  }

  /** Every blackout that reaches a site: its organization's, its county's and its own. */
  siteBlackouts(auth: Principal, siteId: string): Promise<BlackoutRecord[]> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const site = await this.sites.require(tx, siteId);
      const records = await this.blackoutRecordsFor(tx, [site]);
      const reaching = new Set(blackoutsForSite(site, records.map(toLibraryBlackout)).map((b) => b.id));
      return records.filter((record) => reaching.has(record.id));
    });
  }

  createSiteBlackout(auth: Principal, siteId: string, dto: CreateSiteBlackoutDto): Promise<BlackoutRecord> {
    const period = checkedPeriod(dto);
    return this.tenantDb.run(auth.scope, async (tx) => {
      const site = await this.sites.require(tx, siteId);
      const id = randomUUID();
      await this.repository.insertSiteBlackout(
        tx,
        { tenantId: site.tenantId, id, siteId },
        period,
        changedBy(auth),
      );
      const created = (await this.repository.siteBlackout(tx, id)) as BlackoutRecord;
      await this.audit.record(tx, {
        action: 'blackout.create',
        actor: principalActor(auth),
        tenantId: site.tenantId,
        target: { type: 'site_blackout', id },
        after: created,
      });
      return created;
    });
  }

  updateSiteBlackout(auth: Principal, id: string, dto: UpdateBlackoutDto): Promise<BlackoutRecord> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.repository.siteBlackout(tx, id);
      if (!before) throw AppException.notFound('blackout', id);
      return this.changeBlackout(tx, auth, before, dto, 'site_blackout');
    });
  }

  deleteSiteBlackout(auth: Principal, id: string): Promise<void> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.repository.siteBlackout(tx, id);
      if (!before) throw AppException.notFound('blackout', id);
      await this.removeBlackout(tx, auth, before, 'site_blackout');
    });
  }

  listOrganizationBlackouts(
    auth: Principal,
    query: ListOrganizationBlackoutsQuery,
  ): Promise<Page<BlackoutRecord>> {
    const limit = query.limit ?? 100;
    const after = decodeCursor(query.cursor);
    return this.tenantDb.run(auth.scope, async (tx) =>
      toPage(
        await this.repository.organizationBlackouts(tx, {
          organizationId: auth.organizationId,
          after,
          limit: limit + 1,
        }),
        limit,
      ),
    );
  }

  createOrganizationBlackout(auth: Principal, dto: CreateOrganizationBlackoutDto): Promise<BlackoutRecord> {
    const period = checkedPeriod(dto);
    if (dto.scope === 'organization' && dto.county !== undefined) {
      throw invalidBlackout('county applies to county blackouts only');
    }
    return this.tenantDb.run(auth.scope, async (tx) => {
      this.requireOrganizationScope(tx, auth);
      const id = randomUUID();
      await this.repository.insertOrganizationBlackout(
        tx,
        {
          organizationId: auth.organizationId,
          id,
          scope: dto.scope,
          county: dto.scope === 'county' ? (dto.county as string).trim() : null,
        },
        period,
        changedBy(auth),
      );
      const created = (await this.repository.organizationBlackout(tx, id)) as BlackoutRecord;
      await this.audit.record(tx, {
        action: 'blackout.create',
        actor: principalActor(auth),
        target: { type: 'organization_blackout', id },
        after: created,
      });
      return created;
    });
  }

  updateOrganizationBlackout(auth: Principal, id: string, dto: UpdateBlackoutDto): Promise<BlackoutRecord> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.ownOrganizationBlackout(tx, auth, id);
      return this.changeBlackout(tx, auth, before, dto, 'organization_blackout');
    });
  }

  deleteOrganizationBlackout(auth: Principal, id: string): Promise<void> {
    return this.tenantDb.run(auth.scope, async (tx) => {
      const before = await this.ownOrganizationBlackout(tx, auth, id);
      await this.removeBlackout(tx, auth, before, 'organization_blackout');
    });
  }

  /**
   * The sites in the planner's form: zone, policy and the blackouts that reach each. Sites the transaction
   * cannot see are simply absent from `sites` (the caller loaded them under the same scope).
   */
  async planSites(tx: TenantTx, sites: readonly MaintenanceSiteRow[]): Promise<PlanSite[]> {
    if (sites.length === 0) return [];
    const ids = sites.map((site) => site.id);
    const policies = await this.repository.policiesOf(tx, ids);
    const records = await this.blackoutRecordsFor(tx, sites);
    const shared: Blackout[] = [];
    const own = new Map<string, Blackout[]>();
    for (const record of records) {
      const blackout = toLibraryBlackout(record);
      if (record.scope === 'site') {
        const list = own.get(record.siteId as string) ?? [];
        list.push(blackout);
        own.set(record.siteId as string, list);
      } else {
        shared.push(blackout);
      }
    }
    // Equal policies and equal blackout lists are shared objects, so the library compiles each once (its
    // compiled forms are cached per object).
    const policyByText = new Map<string, MaintenancePolicy>();
    const blackoutsByIds = new Map<string, Blackout[]>();
    return sites.map((site) => {
      const policy = policies.get(site.id)?.policy ?? {};
      const policyText = JSON.stringify(policy);
      if (!policyByText.has(policyText)) policyByText.set(policyText, policy);
      const reaching = blackoutsForSite(site, [...shared, ...(own.get(site.id) ?? [])]);
      const ids = reaching.map((blackout) => blackout.id).join(',');
      if (!blackoutsByIds.has(ids)) blackoutsByIds.set(ids, reaching);
      return {
        id: site.id,
        timeZone: site.timeZone,
        policy: policyByText.get(policyText) as MaintenancePolicy,
        blackouts: blackoutsByIds.get(ids) as Blackout[],
      };
    });
  }

  private async blackoutRecordsFor(
    tx: TenantTx,
    sites: readonly MaintenanceSiteRow[],
  ): Promise<BlackoutRecord[]> {
    const organizations = await this.repository.organizationsOf(
      tx,
      sites.map((site) => site.tenantId),
    );
    const shared = (await this.repository.organizationBlackouts(tx)).filter((record) =>
      organizations.has(record.organizationId as string),
    );
    const own = await this.repository.siteBlackoutsOf(
      tx,
      sites.map((site) => site.id),
    );
    return [...shared, ...own];
  }

  private async policyView(tx: TenantTx, siteId: string): Promise<PolicyView> {
    const site = await this.sites.require(tx, siteId);
    const stored = (await this.repository.policiesOf(tx, [site.id])).get(site.id);
    return {
      siteId: site.id,
      tenantId: site.tenantId,
      timeZone: site.timeZone,
      county: site.county,
      isDefault: stored === undefined,
      policy: effectivePolicy(stored?.policy),
      updatedBy: stored?.updatedBy ?? null,
      updatedAt: stored?.updatedAt ?? null,
    };
  }

  private requireOrganizationScope(tx: TenantTx, auth: Principal): void {
    if (tx.organizationId !== auth.organizationId) {
      throw new AppException(
        'ORGANIZATION_SCOPE_REQUIRED',
        HttpStatus.FORBIDDEN,
        'Only principals with organization-wide access may do this',
      );
    }
  }

  private async ownOrganizationBlackout(tx: TenantTx, auth: Principal, id: string): Promise<BlackoutRecord> {
    const record = await this.repository.organizationBlackout(tx, id);
    if (!record || record.organizationId !== auth.organizationId) throw AppException.notFound('blackout', id);
    this.requireOrganizationScope(tx, auth);
    return record;
  }

  private async changeBlackout(
    tx: TenantTx,
    auth: Principal,
    before: BlackoutRecord,
    dto: UpdateBlackoutDto,
    type: string,
  ): Promise<BlackoutRecord> {
    const period = checkedPeriod({
      kind: before.kind,
      start: dto.start ?? before.start ?? undefined,
      end: dto.end ?? before.end ?? undefined,
      firstDate: dto.firstDate ?? before.firstDate ?? undefined,
      lastDate: dto.lastDate ?? before.lastDate ?? undefined,
      reason: dto.reason ?? before.reason,
    });
    await this.repository.updateBlackout(tx, before, period);
    const after = (
      before.scope === 'site'
        ? await this.repository.siteBlackout(tx, before.id)
        : await this.repository.organizationBlackout(tx, before.id)
    ) as BlackoutRecord;
    await this.audit.record(tx, {
      action: 'blackout.update',
      actor: principalActor(auth),
      tenantId: before.tenantId,
      target: { type, id: before.id },
      before,
      after,
    });
    return after;
  }

  private async removeBlackout(tx: TenantTx, auth: Principal, before: BlackoutRecord, type: string) {
    await this.repository.deleteBlackout(tx, before);
    await this.audit.record(tx, {
      action: 'blackout.delete',
      actor: principalActor(auth),
      tenantId: before.tenantId,
      target: { type, id: before.id },
      before,
    });
  }
}

/** The policy with its defaults filled in, as it applies. */
export function effectivePolicy(policy: MaintenancePolicy | undefined): PolicyView['policy'] {
  return {
    window: policy?.window ?? DEFAULT_WINDOW,
    ...(policy?.weekdays ? { weekdays: policy.weekdays } : {}),
    maxConcurrentJobs: policy?.maxConcurrentJobs ?? DEFAULT_MAX_CONCURRENT_JOBS,
  };
}

function invalidPolicy(problems: string[]): AppException {
  return new AppException(
    'INVALID_POLICY',
    HttpStatus.BAD_REQUEST,
    `invalid maintenance policy: ${problems[0] ?? 'unknown problem'}`,
    { problems },
  );
}

function invalidBlackout(problem: string): AppException {
  return new AppException('INVALID_BLACKOUT', HttpStatus.BAD_REQUEST, `invalid blackout: ${problem}`, {
    problems: [problem],
  });
}

/** The shape the library expects (it reads any object leniently), then the library's own check. */
function checkedPolicy(dto: MaintenancePolicyDto): MaintenancePolicy {
  const problems: string[] = [];
  const clock = (path: string, value: unknown, partial: boolean) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${path} must be an object with start and end`);
      return;
    }
    for (const key of Object.keys(value)) {
      if (key !== 'start' && key !== 'end')
        problems.push(`${path}.${key} is not allowed (only start and end)`);
    }
    for (const key of ['start', 'end'] as const) {
      const text = (value as Record<string, unknown>)[key];
      if (text === undefined && partial) continue;
      if (typeof text !== 'string') problems.push(`${path}.${key} must be HH:MM`);
    }
  };
  if (dto.window !== undefined) clock('window', dto.window, false);
  for (const [day, value] of Object.entries(dto.weekdays ?? {})) {
    if (!(WEEKDAYS as readonly string[]).includes(day)) continue; // the library names it
    if (value !== null) clock(`weekdays.${day}`, value, true);
  }
  if (problems.length > 0) throw invalidPolicy(problems);
  const policy: MaintenancePolicy = {
    ...(dto.window ? { window: dto.window as unknown as MaintenancePolicy['window'] } : {}),
    ...(dto.weekdays ? { weekdays: dto.weekdays as MaintenancePolicy['weekdays'] } : {}),
    ...(dto.maxConcurrentJobs !== undefined ? { maxConcurrentJobs: dto.maxConcurrentJobs } : {}),
  };
  const found = policyProblems(policy);
  if (found.length > 0) throw invalidPolicy(found);
  return policy;
}

/** Checks a blackout's period with the library; times are stored normalized to UTC. */
function checkedPeriod(dto: BlackoutPeriodDto): BlackoutPeriod {
  if (dto.kind === 'interval') {
    if (dto.firstDate !== undefined || dto.lastDate !== undefined) {
      throw invalidBlackout('firstDate and lastDate apply to local-dates blackouts only');
    }
    const startMs = withSchedulingErrors(() => toEpochMs(dto.start ?? '', 'start'));
    const endMs = withSchedulingErrors(() => toEpochMs(dto.end ?? '', 'end'));
    withSchedulingErrors(() =>
      compileBlackouts([{ kind: 'interval', id: 'new', start: startMs, end: endMs }]),
    );
    return {
      kind: 'interval',
      start: formatUtc(startMs),
      end: formatUtc(endMs),
      firstDate: null,
      lastDate: null,
      reason: dto.reason,
    };
  }
  if (dto.start !== undefined || dto.end !== undefined) {
    throw invalidBlackout('start and end apply to interval blackouts only');
  }
  const firstDate = dto.firstDate ?? '';
  const lastDate = dto.lastDate ?? '';
  withSchedulingErrors(() => compileBlackouts([{ kind: 'local-dates', id: 'new', firstDate, lastDate }]));
  return { kind: 'local-dates', start: null, end: null, firstDate, lastDate, reason: dto.reason };
}
