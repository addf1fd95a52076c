/**
 * The device adapter interface: how the agent does a job on one kind of device. The job runner calls
 * `precheck` → `apply` → `verify` with an AbortSignal that fires at the job's deadline (or when the agent
 * stops); an adapter must stop promptly when it fires and must leave the device usable.
 *
 * Writing a vendor adapter (an Alaris PC unit over its maintenance port, a monitor over its vendor API):
 * - `claims(order)`: true when the adapter can do this action on this device (check vendor/model via the MAC or
 *   the inventory; a `firmware_update` for a model it does not know is not its job). The registry asks the
 *   adapters in order and the first that claims the order runs it; none → the order is refused
 *   (`DEVICE_UNKNOWN` when no adapter knows the device, `UNSUPPORTED_ACTION` when none does that kind of work).
 * - `precheck`: read-only. Is the device reachable, idle, not in clinical use, charged enough? Answer
 *   `{ ready: false, reason }` to have the job deferred to a later window; never wait for a clinician here.
 * - `apply`: fetch and check the artifact (size and sha256 from the order), install it, report progress 0–100.
 *   Throw `AdapterError` with a defer reason (`IN_CLINICAL_USE`, `DEVICE_OFFLINE`) if the device became busy
 *   before anything was written, with `APPLY_FAILED` once something went wrong while writing. A manual adapter
 *   returns `awaiting_technician` instead of doing the work.
 * - `verify`: read the firmware version back from the device (waiting out its reboot, within the signal). The
 *   runner, not the adapter, compares it with the artifact's version: only a read-back match is a success.
 */
import type { JobDeferReason, JobFailReason, SignedWorkOrder } from '@medfleet/contracts';

export interface AdapterJob {
  readonly order: SignedWorkOrder;
  /** Fires at the job's deadline or when the agent stops; its `reason` says which. */
  readonly signal: AbortSignal;
  /** Progress of the current step, 0–100; the runner throttles what it reports. */
  progress(percent: number): void;
}

export type PrecheckOutcome =
  | { ready: true; firmwareVersion?: string }
  | {
      ready: false;
      reason: Extract<JobDeferReason, 'IN_CLINICAL_USE' | 'DEVICE_OFFLINE' | 'LOW_BATTERY'>;
      detail: string;
    };

export type ApplyOutcome =
  | { kind: 'applied' }
  /** The work is a technician's: the job waits for their confirmation through the control plane. */
  | { kind: 'awaiting_technician'; title: string; checklist: string[] };

export interface VerifyOutcome {
  /** What the device reports now. */
  firmwareVersion: string;
}

export interface DeviceAdapter {
  /** Short name reported with `accepted` (`simulator`, `manual`, `alaris-pcu`). */
  readonly name: string;
  claims(order: SignedWorkOrder): boolean | Promise<boolean>;
  /** Whether the adapter knows the device at all (for DEVICE_UNKNOWN versus UNSUPPORTED_ACTION). */
  knowsDevice(order: SignedWorkOrder): boolean | Promise<boolean>;
  precheck(job: AdapterJob): Promise<PrecheckOutcome>;
  apply(job: AdapterJob): Promise<ApplyOutcome>;
  verify(job: AdapterJob): Promise<VerifyOutcome>;
}

/** A failure an adapter names: a defer reason holds the job for a later window, a fail reason ends it. */
export class AdapterError extends Error {
  constructor(
    readonly code: JobDeferReason | JobFailReason,
    message: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

export type AdapterChoice =
  | { ok: true; adapter: DeviceAdapter }
  | { ok: false; reason: 'DEVICE_UNKNOWN' | 'UNSUPPORTED_ACTION'; detail: string };

/** The adapters of this agent, asked in order. */
export class AdapterRegistry {
  constructor(private readonly adapters: readonly DeviceAdapter[]) {}

  names(): string[] {
    return this.adapters.map((adapter) => adapter.name);
  }

  async choose(order: SignedWorkOrder): Promise<AdapterChoice> {
    let deviceKnown = false;
    for (const adapter of this.adapters) {
      if (await adapter.claims(order)) return { ok: true, adapter };
      if (await adapter.knowsDevice(order)) deviceKnown = true;
    }
    const device = order.device.mac ?? order.device.deviceId ?? '?';
    return deviceKnown
      ? {
          ok: false,
          reason: 'UNSUPPORTED_ACTION',
          detail: `no adapter of this agent (${this.names().join(', ')}) does ${order.action.kind} on ${device}`,
        }
      : { ok: false, reason: 'DEVICE_UNKNOWN', detail: `no adapter of this agent knows device ${device}` };
  }
}
