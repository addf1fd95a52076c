/**
 * Runs the work orders of `cmd/jobs`: verifies each (signature and key, addressed to this agent, not seen
 * before, not expired, inside its window by the agent's own clock and maintenance-policy copy), then runs it
 * through a device adapter (pre-check → apply → verify the firmware read back) under a deadline, and reports
 * every state on `jobs/progress`. Loaded on the first work order (or at start when `jobs.json` exists), so an
 * agent that never gets one does not carry this code.
 */
import {
  decodeEnvelope,
  verifyWorkOrderSignature,
  workOrderEnvelopeSchema,
  type JobDeferReason,
  type JobFailReason,
  type JobProgressBody,
  type JobRefuseReason,
  type JobStep,
  type MaintenancePolicy,
  type SignedWorkOrder,
  type WorkOrderKey,
} from '@medfleet/contracts';
import { localDateTime } from '@medfleet/scheduling';
import type { SimulatedClinic } from '@medfleet/simulator';
import type { Logger } from '../logger.js';
import { AdapterError, AdapterRegistry, type AdapterJob, type DeviceAdapter } from './device-adapter.js';
import { JobStore, OPEN_STATES, type JobRecord } from './job-store.js';
import { manualAdapter } from './manual.adapter.js';
import { ownWindowAt } from './maintenance-window.js';
import { simulatorAdapter, type SimulatorAdapterOptions } from './simulator.adapter.js';

export interface JobSettings {
  maintenance: MaintenancePolicy;
  workOrderKeys: readonly WorkOrderKey[];
}

export interface JobRunnerOptions {
  stateDir: string;
  agentId: string;
  logger: Logger;
  /** The agent's clock for jobs (epoch ms); tests move it into or out of a window. */
  now: () => number;
  /** Read at each order, so a new config (keys, policy) applies to the next one. */
  settings: () => JobSettings;
  /** Publishes one progress message (through the outbox); resolves once it is stored. */
  report: (body: JobProgressBody) => Promise<unknown>;
  /** Default: the simulator adapter when the agent simulates a clinic, then the manual adapter. */
  adapters?: readonly DeviceAdapter[];
  clinic?: SimulatedClinic;
  /** Options of the default simulator adapter. */
  simulator?: SimulatorAdapterOptions;
}

/** Why a running job's signal fired. */
class JobAbort extends Error {
  constructor(readonly why: 'deadline' | 'stopping') {
    super(why === 'deadline' ? 'the job reached its deadline' : 'the agent is stopping');
    this.name = 'JobAbort';
  }
}

interface ActiveJob {
  controller: AbortController;
  done: Promise<void>;
}

type OrderIds = { jobId: string; campaignId?: string; attempt?: number };

const DEFER_REASONS: readonly string[] = [
  'IN_CLINICAL_USE',
  'DEVICE_OFFLINE',
  'LOW_BATTERY',
  'WINDOW_ENDED',
  'AGENT_INTERRUPTED',
] satisfies JobDeferReason[];
/** Progress within a step is reported in steps of this many percent, not at every tick. */
const PROGRESS_STEP = 20;

export class JobRunner {
  private readonly active = new Map<string, ActiveJob>();
  private readonly registry: AdapterRegistry;
  private readonly log: Logger;

  private constructor(
    private readonly options: JobRunnerOptions,
    private readonly store: JobStore,
  ) {
    this.log = options.logger;
    this.registry = new AdapterRegistry(
      options.adapters ?? [
        ...(options.clinic ? [simulatorAdapter(options.clinic, options.simulator)] : []),
        manualAdapter(),
      ],
    );
  }

  static async open(options: JobRunnerOptions): Promise<JobRunner> {
    const { store, problem } = await JobStore.open(options.stateDir);
    if (problem) options.logger.error({ problem }, 'job records unreadable: moved aside, starting with none');
    return new JobRunner(options, store);
  }

  /** Jobs a crash (or a kill) interrupted are reported deferred: the control plane re-issues them. */
  async recover(): Promise<void> {
    for (const record of this.store.open()) {
      if (record.state === 'waiting_manual') continue;
      this.log.warn({ jobId: record.jobId, step: record.step }, 'a job was interrupted by the last stop');
      await this.finish(record, {
        state: 'deferred',
        reason: 'AGENT_INTERRUPTED',
        ...(record.step ? { step: record.step } : {}),
        detail: `the agent stopped ${record.step ? `during ${record.step}` : 'before the job started'}`,
      });
    }
  }

  runningJobs(): string[] {
    return [...this.active.keys()];
  }

  /** Resolves when no job runs. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()].map((job) => job.done));
  }

  /** Stops every running job (each reports `deferred`, AGENT_INTERRUPTED) and waits for them. */
  async stop(): Promise<void> {
    for (const job of this.active.values()) job.controller.abort(new JobAbort('stopping'));
    await this.idle();
  }

  /** Decides on one `cmd/jobs` payload; an accepted job then runs in the background. */
  async receive(payload: Buffer): Promise<void> {
    const decoded = decodeEnvelope(payload, workOrderEnvelopeSchema);
    if (!decoded.ok) {
      const jobId = jobIdHint(payload);
      this.log.warn({ reason: decoded.reason, detail: decoded.detail, jobId }, 'invalid work order refused');
      if (jobId) await this.refuse({ jobId }, 'SCHEMA_INVALID', `${decoded.reason}: ${decoded.detail}`);
      return;
    }
    const envelope = decoded.message;
    if (envelope.agentId !== this.options.agentId) {
      this.log.warn({ envelopeAgentId: envelope.agentId }, 'work order for another agent ignored');
      return;
    }
    const order = envelope.body;
    const ids: OrderIds = { jobId: order.jobId, campaignId: order.campaignId, attempt: order.attempt };
    const { maintenance, workOrderKeys } = this.options.settings();
    const signature = verifyWorkOrderSignature(order, workOrderKeys);
    if (!signature.ok) {
      const detail =
        signature.reason === 'UNKNOWN_KEY'
          ? `key ${order.signature.keyId} is not among this agent's work-order keys (${workOrderKeys.map((key) => key.keyId).join(', ') || 'none'})`
          : `the signature does not match the order under key ${order.signature.keyId}`;
      await this.refuse(ids, signature.reason, detail);
      return;
    }
    if (order.agentId !== this.options.agentId) {
      await this.refuse(ids, 'WRONG_AGENT', `the order is for agent ${order.agentId}`);
      return;
    }
    const known = this.store.get(order.jobId);
    if (known && known.attempt === order.attempt) {
      this.log.info(
        { jobId: order.jobId, attempt: order.attempt, state: known.state },
        'duplicate work order ignored: this attempt was handled already',
      );
      return;
    }
    if (known && order.attempt < known.attempt) {
      await this.refuse(ids, 'SUPERSEDED', `attempt ${known.attempt} of this job came already`);
      return;
    }
    if (known?.state === 'succeeded') {
      await this.refuse(ids, 'ALREADY_SUCCEEDED', `attempt ${known.attempt} of this job succeeded`);
      return;
    }
    if (known && OPEN_STATES.includes(known.state)) {
      await this.refuse(ids, 'JOB_IN_PROGRESS', `attempt ${known.attempt} is still ${known.state}`);
      return;
    }
    const now = this.options.now();
    const deadlineMs = Date.parse(order.deadline);
    if (now >= deadlineMs) {
      await this.refuse(
        ids,
        'EXPIRED',
        `the deadline ${order.deadline} has passed (agent clock ${iso(now)})`,
      );
      return;
    }
    const local = localDateTime(now, maintenance.timeZone);
    if (now < Date.parse(order.window.startUtc) || now >= Date.parse(order.window.endUtc)) {
      await this.refuse(
        ids,
        'OUTSIDE_WINDOW',
        `${local} is outside the order's window ${order.window.startLocal} – ${order.window.endLocal}`,
      );
      return;
    }
    const own = ownWindowAt(maintenance, now);
    if (!own) {
      await this.refuse(
        ids,
        'OUTSIDE_WINDOW',
        `${local} is outside the site's maintenance window by this agent's policy (${maintenance.windows
          .map((window) => `${window.days.join(',')} ${window.start}–${window.end}`)
          .join('; ')} ${maintenance.timeZone})`,
      );
      return;
    }
    const choice = await this.registry.choose(order);
    if (!choice.ok) {
      await this.refuse(ids, choice.reason, choice.detail);
      return;
    }
    // Never past the order's deadline, nor past the window the agent itself sees.
    const stopAt = Math.min(deadlineMs, own.endMs);
    const record = this.recordOf(order, 'accepted');
    await this.transition(record, { state: 'accepted', adapter: choice.adapter.name });
    this.log.info(
      { jobId: order.jobId, attempt: order.attempt, adapter: choice.adapter.name, stopAt: iso(stopAt) },
      'work order accepted',
    );
    this.start(order, choice.adapter, record, stopAt);
  }

  private start(order: SignedWorkOrder, adapter: DeviceAdapter, record: JobRecord, stopAt: number): void {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new JobAbort('deadline')),
      Math.max(0, stopAt - this.options.now()),
    );
    const done = this.run(order, adapter, record, controller.signal)
      .catch((error: unknown) => this.log.error({ err: error, jobId: order.jobId }, 'job bookkeeping failed'))
      .finally(() => {
        clearTimeout(timer);
        this.active.delete(order.jobId);
      });
    this.active.set(order.jobId, { controller, done });
  }

  private async run(
    order: SignedWorkOrder,
    adapter: DeviceAdapter,
    record: JobRecord,
    signal: AbortSignal,
  ): Promise<void> {
    let step: JobStep = 'precheck';
    let reported = 0;
    let finished = false;
    const job: AdapterJob = {
      order,
      signal,
      progress: (percent) => {
        const rounded = Math.max(0, Math.min(100, Math.floor(percent)));
        if (finished || signal.aborted || rounded < reported + PROGRESS_STEP) return;
        reported = rounded;
        void this.options.report(this.body(record, { state: 'running', step, percent: rounded }));
      },
    };
    const enter = async (next: JobStep) => {
      signal.throwIfAborted();
      step = next;
      reported = 0;
      await this.transition(record, { state: 'running', step, percent: 0 }, step);
    };
    try {
      await enter('precheck');
      const precheck = await adapter.precheck(job);
      if (!precheck.ready) {
        finished = true;
        await this.finish(record, {
          state: 'deferred',
          reason: precheck.reason,
          step,
          detail: precheck.detail,
        });
        return;
      }
      await enter('apply');
      const applied = await adapter.apply(job);
      if (applied.kind === 'awaiting_technician') {
        finished = true;
        await this.transition(record, {
          state: 'waiting_manual',
          title: applied.title,
          checklist: applied.checklist,
        });
        this.log.info({ jobId: order.jobId }, 'job waits for a technician to confirm it');
        return;
      }
      await enter('verify');
      const { firmwareVersion } = await adapter.verify(job);
      finished = true;
      const expected = order.action.kind === 'firmware_update' ? order.action.artifact.version : undefined;
      if (expected !== undefined && firmwareVersion !== expected) {
        await this.finish(record, {
          state: 'failed',
          reason: 'FIRMWARE_NOT_UPDATED',
          step,
          firmwareVersion,
          detail: `the device reports ${firmwareVersion} after the install, not ${expected}`,
        });
        return;
      }
      await this.finish(record, { state: 'succeeded', firmwareVersion });
    } catch (error) {
      finished = true;
      if (signal.aborted) {
        const cause = signal.reason instanceof JobAbort ? signal.reason.why : 'stopping';
        await this.finish(record, {
          state: 'deferred',
          reason: cause === 'deadline' ? 'WINDOW_ENDED' : 'AGENT_INTERRUPTED',
          step,
          detail:
            cause === 'deadline'
              ? `stopped during ${step} at the deadline (${order.deadline} or the window's end, whichever is first)`
              : `the agent stopped during ${step}`,
        });
        return;
      }
      const code = error instanceof AdapterError ? error.code : 'ADAPTER_ERROR';
      const detail = (error instanceof Error ? error.message : String(error)).slice(0, 1000) || code;
      if (DEFER_REASONS.includes(code)) {
        await this.finish(record, { state: 'deferred', reason: code as JobDeferReason, step, detail });
      } else {
        await this.finish(record, { state: 'failed', reason: code as JobFailReason, step, detail });
      }
    }
  }

  /**
   * A refusal has no effect on the device, so it is not remembered: the same order arriving again is judged
   * again (refused again outside its window, accepted once inside it), and a forged one cannot block the real one.
   */
  private async refuse(ids: OrderIds, reason: JobRefuseReason, detail: string): Promise<void> {
    this.log.warn({ ...ids, reason, detail }, 'work order refused');
    await this.options.report({
      jobId: ids.jobId,
      ...(ids.campaignId === undefined ? {} : { campaignId: ids.campaignId }),
      ...(ids.attempt === undefined ? {} : { attempt: ids.attempt }),
      at: iso(this.options.now()),
      state: 'refused',
      reason,
      detail: detail.slice(0, 1000),
    });
  }

  private recordOf(order: SignedWorkOrder, state: JobRecord['state']): JobRecord {
    return {
      jobId: order.jobId,
      campaignId: order.campaignId,
      attempt: order.attempt,
      state,
      updatedAt: this.options.now(),
      deadline: order.deadline,
    };
  }

  /** A final state: recorded and reported. */
  private async finish(record: JobRecord, change: StateChange): Promise<void> {
    await this.transition(record, change, 'step' in change ? change.step : undefined);
    this.log.info({ jobId: record.jobId, attempt: record.attempt, ...change }, `job ${change.state}`);
  }

  /** Records the new state first (so a restart knows it), then reports it. */
  private async transition(record: JobRecord, change: StateChange, step?: JobStep): Promise<void> {
    record.state = change.state;
    record.updatedAt = this.options.now();
    if (step) record.step = step;
    else delete record.step;
    await this.store.save({ ...record });
    await this.options.report(this.body(record, change));
  }

  private body(record: JobRecord, change: StateChange): JobProgressBody {
    return {
      jobId: record.jobId,
      campaignId: record.campaignId,
      attempt: record.attempt,
      at: iso(this.options.now()),
      ...change,
    } as JobProgressBody;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type StateChange = DistributiveOmit<JobProgressBody, 'jobId' | 'campaignId' | 'attempt' | 'at'>;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The job id of an order that failed validation, when one can be read (to report the refusal against it). */
function jobIdHint(payload: Buffer): string | undefined {
  try {
    const jobId = (JSON.parse(payload.toString('utf8')) as { body?: { jobId?: unknown } }).body?.jobId;
    return typeof jobId === 'string' &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(jobId)
      ? jobId.toLowerCase()
      : undefined;
  } catch {
    return undefined;
  }
}
