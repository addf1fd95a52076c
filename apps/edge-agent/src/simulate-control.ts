/**
 * Steering the simulated clinic from a file while the agent runs (`run --simulate-control <file>`): tests and
 * demos write JSON that puts devices in clinical use and makes firmware installs fail, and the agent polls the
 * file and applies each new content.
 *
 * ```
 * { "inClinicalUse": ["aa:bb:cc:dd:ee:ff"],        devices in clinical use; every other device is not
 *   "faults": { "aa:bb:cc:dd:ee:ff": "fallback" },  the next install on that device goes wrong this way
 *   "failureRate": 0.1, "fault": "apply_error" }    this share of all installs goes wrong with `fault`
 * ```
 */
import fs from 'node:fs/promises';
import { MAC_PATTERN } from '@medfleet/contracts';
import type { FirmwareFault, SimulatedClinic } from '@medfleet/simulator';
import { z } from 'zod';
import type { Logger } from './logger.js';

export const FIRMWARE_FAULTS = [
  'fallback',
  'apply_error',
  'no_return',
] as const satisfies readonly FirmwareFault[];

export const DEFAULT_SIMULATE_CONTROL_POLL_MS = 500;
/** A control file is a few lines; anything this big is not one, and is not read. */
const MAX_CONTROL_FILE_BYTES = 1024 * 1024;

const macSchema = z
  .string()
  .refine((mac) => MAC_PATTERN.test(mac.toLowerCase()), {
    error: (issue) => `${JSON.stringify(issue.input)} is not a MAC address like aa:bb:cc:dd:ee:ff`,
  })
  .transform((mac) => mac.toLowerCase());

const faultSchema = z.enum(FIRMWARE_FAULTS, {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not a fault: use ${FIRMWARE_FAULTS.map((fault) => `"${fault}"`).join(', ')}`,
});

const controlSchema = z.strictObject({
  inClinicalUse: z.array(macSchema).default([]),
  faults: z.record(z.string(), faultSchema).default({}),
  failureRate: z
    .number({ error: 'must be a number from 0 to 1' })
    .min(0, { error: 'must be from 0 to 1' })
    .max(1, { error: 'must be from 0 to 1' })
    .default(0),
  fault: faultSchema.default('fallback'),
});

/** A control file's content, checked and with its MACs in lower case. */
export interface SimulateControl {
  /** Devices that report being in clinical use; every other device of the clinic does not. */
  inClinicalUse: string[];
  /** The next install on each of these devices goes wrong this way (armed once per new file content). */
  faults: Record<string, FirmwareFault>;
  /** Share of installs, on any device, that go wrong with `fault`: 0 none, 1 every one. */
  failureRate: number;
  fault: FirmwareFault;
}

export type SimulateControlParse = { ok: true; control: SimulateControl } | { ok: false; problem: string };

export function parseSimulateControl(text: string): SimulateControlParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `not JSON: ${(error as Error).message}` };
  }
  const result = controlSchema.safeParse(json);
  if (!result.success) {
    const problem = result.error.issues
      .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
      .join('; ');
    return { ok: false, problem };
  }
  const faults: Record<string, FirmwareFault> = {};
  for (const [key, fault] of Object.entries(result.data.faults)) {
    // Keys are checked here, so the problem names the key and says what a MAC looks like.
    const mac = macSchema.safeParse(key);
    if (!mac.success) return { ok: false, problem: `faults.${key}: ${mac.error.issues[0]?.message ?? ''}` };
    faults[mac.data] = fault;
  }
  return { ok: true, control: { ...result.data, faults } };
}

export interface SimulateControlWatcherOptions {
  file: string;
  logger: Logger;
  /** How often the file is checked for a new version. */
  pollMs?: number;
  /** The draw for `failureRate`, in [0, 1); default Math.random. */
  random?: () => number;
}

/**
 * Polls a control file and applies it to the clinic: at start, then each time its content changes. A file that
 * does not exist (yet), is half written or is invalid is logged and changes nothing: the last good control stays.
 * A file written again with the same content changes nothing either (a fault is not armed a second time). A fault
 * once armed stays until an install on the device takes it, even if a later version of the file drops it.
 */
export class SimulateControlWatcher {
  readonly #file: string;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #random: () => number;
  #clinic?: SimulatedClinic;
  #control?: SimulateControl;
  /** The content of the control in effect. */
  #appliedText?: string;
  /** Identifies the version of the file last looked at (inode, size, times), so an unchanged file is not read. */
  #seen?: string;
  /** Devices whose fault from `faults` no install has taken yet. */
  readonly #armed = new Set<string>();
  #timer?: NodeJS.Timeout;
  #polling: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: SimulateControlWatcherOptions) {
    this.#file = options.file;
    this.#log = options.logger;
    this.#pollMs = options.pollMs ?? DEFAULT_SIMULATE_CONTROL_POLL_MS;
    this.#random = options.random ?? Math.random;
  }

  /** Applies the file as it is now, then keeps polling it until `stop`. */
  async start(clinic: SimulatedClinic): Promise<void> {
    if (this.#clinic) throw new Error('a SimulateControlWatcher starts once');
    this.#clinic = clinic;
    this.#log.info({ file: this.#file, pollMs: this.#pollMs }, 'simulate control: watching the file');
    this.#polling = this.#poll();
    await this.#polling;
    this.#schedule();
  }

  /** Stops polling; waits for a poll under way. Safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  /**
   * Asked right before each install on a simulated device (the simulator adapter's hook): the fault this install
   * should have for `failureRate`, or undefined. Bound, so it can be passed around as a function.
   */
  readonly installFault = (mac: string): FirmwareFault | undefined => {
    const clinic = this.#clinic;
    const control = this.#control;
    if (!clinic || !control) return undefined;
    const device = clinic.device(mac);
    // The clinic refuses this install and keeps any armed fault: arming one now would fail a later install.
    if (!device || !device.online || device.rebooting || device.inClinicalUse) return undefined;
    // This install takes the fault the file armed for the device; it is not drawn for as well.
    if (this.#armed.delete(device.mac)) return undefined;
    if (control.failureRate === 0 || this.#random() >= control.failureRate) return undefined;
    this.#log.info(
      { mac: device.mac, fault: control.fault, failureRate: control.failureRate },
      'simulate control: this install will fail',
    );
    return control.fault;
  };

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#polling = this.#poll().finally(() => this.#schedule());
    }, this.#pollMs);
    // Polling alone does not keep the process alive.
    this.#timer.unref();
  }

  /** Reads the file if it changed since the last look, and applies its content if that is new and valid. */
  async #poll(): Promise<void> {
    try {
      const stats = await fs.stat(this.#file);
      const version = `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
      if (version === this.#seen) return;
      this.#seen = version;
      if (!stats.isFile() || stats.size > MAX_CONTROL_FILE_BYTES) {
        this.#log.warn(
          { file: this.#file, bytes: stats.size },
          `simulate control: not a file of at most ${MAX_CONTROL_FILE_BYTES} bytes; keeping the last good control`,
        );
        return;
      }
      this.#applyText(await fs.readFile(this.#file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // Not written yet, or renamed away between stat and read: looked at again at the next poll.
        if (this.#seen !== 'missing') {
          this.#log.info(
            { file: this.#file },
            this.#control
              ? 'simulate control: the file is gone; keeping the last control'
              : 'simulate control: no file yet',
          );
        }
        this.#seen = 'missing';
        return;
      }
      this.#log.warn(
        { file: this.#file, err: error },
        'simulate control: could not read the file; keeping the last good control',
      );
    }
  }

  #applyText(text: string): void {
    if (text === this.#appliedText) {
      this.#log.debug(
        { file: this.#file },
        'simulate control: written again, same content: nothing to apply',
      );
      return;
    }
    const parsed = parseSimulateControl(text);
    const problem = parsed.ok ? this.#unknownDevices(parsed.control) : parsed.problem;
    if (!parsed.ok || problem !== undefined) {
      this.#log.warn(
        { file: this.#file, problem },
        'simulate control: invalid file (or half written); keeping the last good control',
      );
      return;
    }
    this.#apply(parsed.control);
    this.#appliedText = text;
  }

  /** A MAC the clinic does not have is a mistake in the file: nothing of it is applied. */
  #unknownDevices(control: SimulateControl): string | undefined {
    const clinic = this.#clinic as SimulatedClinic;
    const unknown = [...new Set([...control.inClinicalUse, ...Object.keys(control.faults)])].filter(
      (mac) => clinic.device(mac) === undefined,
    );
    return unknown.length === 0
      ? undefined
      : `no device with MAC ${unknown.join(', ')} in the simulated clinic`;
  }

  #apply(control: SimulateControl): void {
    const clinic = this.#clinic as SimulatedClinic;
    const inUse = new Set(control.inClinicalUse);
    for (const device of clinic.devices) {
      const wanted = inUse.has(device.mac);
      if (device.inClinicalUse !== wanted) clinic.setInClinicalUse(device.mac, wanted);
    }
    for (const [mac, fault] of Object.entries(control.faults)) {
      clinic.failNextInstall(mac, fault);
      this.#armed.add(mac);
    }
    this.#control = control;
    this.#log.info(
      {
        file: this.#file,
        inClinicalUse: control.inClinicalUse.length,
        faults: control.faults,
        failureRate: control.failureRate,
        fault: control.fault,
      },
      'simulate control: applied',
    );
  }
}
