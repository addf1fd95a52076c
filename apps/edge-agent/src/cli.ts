/** The `medfleet-agent` command line: argument parsing, settings from the environment, and the two commands. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AgentException, type AgentExceptionCode } from './agent.exception.js';
import { createLogger } from './logger.js';
import { DEFAULT_DURABLE_OUTBOX_MAX_BYTES, DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES } from './outbox.js';
import { readBootstrapSettings, readTrustedCa } from './bootstrap.js';
import type { SimulateControlWatcher } from './simulate-control.js';
import type { EnrollOptions, EnrollResult } from './enroll.js';
import {
  IDENTITY_FILE,
  PENDING_FILE,
  defaultStateDir,
  readIdentity,
  readPending,
  type PendingEnrollment,
} from './state.js';
import { AGENT_VERSION } from './version.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); `run` keeps the agent up until then. */
  shutdownSignal(): Promise<string>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** Enrolled, but still waiting for a technician's approval (the wait was interrupted or not asked for). */
export const EXIT_PENDING = 3;

export const USAGE = `Usage: medfleet-agent <command> [options]

Commands:
  enroll   Make this agent's key pair and trade an enrollment token and a CSR for its identity and
           certificate (stored in the state directory); waits while a technician must approve it
  run      Connect to the control plane and report this site's devices and the agent's health; not yet
           enrolled, it first enrolls with its bootstrap settings (zero-touch)
  renew-certificate  Renew the agent certificate now over mutual TLS (run renews it by itself)

Enroll options:
  --server <host:port>     Control-plane gRPC endpoint         (env MEDFLEET_SERVER)
  --token <token>          Enrollment token mfe_<tenant>_<...>  (env MEDFLEET_ENROLLMENT_TOKEN)
  --ca-file <pem>          CA certificates to trust for the server (env MEDFLEET_CA_FILE)
  --insecure               Plaintext gRPC instead of TLS (development only)
  --no-wait                Do not wait for approval: exit 3 while pending (enroll again to resume)
  --force                  Enroll again, replacing the stored identity

Run options:
  --bootstrap-file <file>  Bootstrap settings for zero-touch enrollment (env MEDFLEET_BOOTSTRAP_FILE;
                           default /boot/firmware/medfleet.conf or /boot/medfleet.conf): lines
                           server = <host:port>, token = <token>, ca_file = <pem>, insecure = false;
                           MEDFLEET_SERVER, MEDFLEET_ENROLLMENT_TOKEN, MEDFLEET_CA_FILE override them
  --simulate-seed <seed>   Seed of the simulated clinic (env MEDFLEET_SIMULATE_SEED; default: the agent id)
  --devices <n>            Number of simulated devices, 1-2000
  --simulate-control <file>  JSON file steering the simulated clinic while the agent runs, polled for changes
                           (env MEDFLEET_SIMULATE_CONTROL; needs --devices): {"inClinicalUse": [<mac>, ...],
                           "faults": {<mac>: "fallback" | "apply_error" | "no_return"}, "failureRate": 0-1,
                           "fault": <fault, default "fallback">}
  --outbox-max-mb <n>      Disk quota of the durable outbox in MiB (env MEDFLEET_OUTBOX_MAX_MB; default ${DEFAULT_DURABLE_OUTBOX_MAX_BYTES / 1024 / 1024})
  --outbox-max-messages <n>  Most messages it holds (env MEDFLEET_OUTBOX_MAX_MESSAGES; default ${DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES})

Common options:
  --state-dir <dir>        State directory (env MEDFLEET_STATE_DIR; default /var/lib/medfleet-agent)
  -h, --help               Show this help
  -v, --version            Show the agent version

Logs are JSON lines on stdout; set MEDFLEET_LOG_LEVEL (debug, info, warn, error) to change the level.
`;

const EXIT_CODES: Record<AgentExceptionCode, number> = {
  USAGE: EXIT_USAGE,
  NOT_ENROLLED: EXIT_FAILURE,
  ALREADY_ENROLLED: EXIT_FAILURE,
  STATE_INVALID: EXIT_FAILURE,
  STATE_LOCKED: EXIT_FAILURE,
  OUTBOX_UNAVAILABLE: EXIT_FAILURE,
  ENROLLMENT_FAILED: EXIT_FAILURE,
  ENROLLMENT_REFUSED: EXIT_FAILURE,
  ENROLLMENT_PENDING: EXIT_PENDING,
};

const MAX_DEVICES = 2000;

export function processIo(): CliIo {
  return {
    env: process.env,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    shutdownSignal: () =>
      new Promise((resolve) => {
        const onSignal = (signal: string) => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          resolve(signal);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }),
  };
}

/** Runs one command and resolves to the process exit code; errors are printed, never thrown. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'enroll':
        return await enrollCommand(rest, io);
      case 'run':
        return await runCommand(rest, io);
      case 'renew-certificate':
        return await renewCommand(rest, io);
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return EXIT_OK;
      case '-v':
      case '--version':
        io.out(`${AGENT_VERSION}\n`);
        return EXIT_OK;
      case undefined:
        io.err(USAGE);
        return EXIT_USAGE;
      default:
        throw new AgentException('USAGE', `unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof AgentException) {
      io.err(`medfleet-agent: ${error.message}\n`);
      if (error.code === 'USAGE') io.err(`Run "medfleet-agent --help" for usage.\n`);
      return EXIT_CODES[error.code];
    }
    io.err(`medfleet-agent: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT_FAILURE;
  }
}

/** node:util reports unknown options and missing values as TypeErrors (ERR_PARSE_ARGS_*): those are usage errors. */
function parseUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new AgentException('USAGE', (error as Error).message);
  }
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

async function enrollCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseUsage(() =>
    parseArgs({
      args: [...args],
      strict: true,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        'ca-file': { type: 'string' },
        'state-dir': { type: 'string' },
        insecure: { type: 'boolean' },
        'no-wait': { type: 'boolean' },
        force: { type: 'boolean' },
        ...HELP_OPTION,
      },
    }),
  );
  if (values.help) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const server = values.server ?? io.env['MEDFLEET_SERVER'];
  const token = values.token ?? io.env['MEDFLEET_ENROLLMENT_TOKEN'];
  if (!server) throw new AgentException('USAGE', 'enroll needs --server <host:port> (or MEDFLEET_SERVER)');
  if (!token)
    throw new AgentException('USAGE', 'enroll needs --token <token> (or MEDFLEET_ENROLLMENT_TOKEN)');
  const stateDir = values['state-dir'] ?? defaultStateDir(io.env);
  const insecure = values.insecure === true;
  const caFile = values['ca-file'] ?? (io.env['MEDFLEET_CA_FILE'] || undefined);
  const trustedCaPem = caFile ? await readTrustedCa(caFile) : undefined;
  const result = await enrollWithProgress(
    {
      server,
      token,
      stateDir,
      insecure,
      force: values.force === true,
      wait: values['no-wait'] !== true,
      ...(trustedCaPem ? { trustedCaPem } : {}),
    },
    io,
  );
  const { identity } = result;
  io.out(
    `enrolled as agent ${identity.agentId} (tenant ${identity.tenantId}, site ${identity.siteId}); ` +
      `identity stored in ${result.identityFile}, private key in ${result.keyFile}\n`,
  );
  return EXIT_OK;
}

/** Enrolls, telling the operator when the agent waits for approval; a stop signal ends the wait. */
async function enrollWithProgress(
  options: Omit<EnrollOptions, 'onPending' | 'signal'>,
  io: CliIo,
): Promise<EnrollResult> {
  if (options.insecure) io.err('medfleet-agent: warning: enrolling over plaintext gRPC (--insecure)\n');
  // Loaded only for enrollment: gRPC and protobuf would add several MB to a running agent's memory.
  const { enroll } = await import('./enroll.js');
  const stop = new AbortController();
  void io.shutdownSignal().then(() => stop.abort());
  const onPending = (pending: PendingEnrollment, polls: number) => {
    if (polls === 0) {
      io.out(
        `pending approval: agent ${pending.agentId} waits for a technician to approve it ` +
          `(POST /api/v1/agents/${pending.agentId}/approve); polling ${pending.server}\n`,
      );
    }
  };
  const result = await enroll({ ...options, onPending, signal: stop.signal });
  if (result.looseStateDirMode !== undefined) {
    io.err(
      `medfleet-agent: warning: state directory ${options.stateDir} has mode ${result.looseStateDirMode.toString(8)}; ` +
        'it holds credentials, consider chmod 700\n',
    );
  }
  return result;
}

async function renewCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseUsage(() =>
    parseArgs({
      args: [...args],
      strict: true,
      options: { 'state-dir': { type: 'string' }, ...HELP_OPTION },
    }),
  );
  if (values.help) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const stateDir = values['state-dir'] ?? defaultStateDir(io.env);
  const { lockStateDir } = await import('./state.js');
  // A running agent renews by itself; two renewals at once would replace each other's key.
  const lock = await lockStateDir(stateDir);
  try {
    const { renewCertificateIfDue } = await import('./renewal.js');
    const outcome = await renewCertificateIfDue(stateDir, { force: true });
    if (!outcome.renewed)
      throw new AgentException('STATE_INVALID', 'this identity has no certificate to renew');
    io.out(`certificate renewed; valid until ${outcome.notAfter?.toISOString() ?? '?'}\n`);
    return EXIT_OK;
  } finally {
    await lock.release();
  }
}

async function runCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseUsage(() =>
    parseArgs({
      args: [...args],
      strict: true,
      options: {
        'state-dir': { type: 'string' },
        'bootstrap-file': { type: 'string' },
        'simulate-seed': { type: 'string' },
        devices: { type: 'string' },
        'simulate-control': { type: 'string' },
        'outbox-max-mb': { type: 'string' },
        'outbox-max-messages': { type: 'string' },
        ...HELP_OPTION,
      },
    }),
  );
  if (values.help) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const stateDir = values['state-dir'] ?? defaultStateDir(io.env);
  // The simulator treats a number and its decimal string as the same seed, so the text is passed as is.
  const seedText = values['simulate-seed'] ?? (io.env['MEDFLEET_SIMULATE_SEED'] || undefined);
  if (seedText?.trim() === '') throw new AgentException('USAGE', '--simulate-seed must not be empty');
  const deviceCount = parseDeviceCount(values.devices);
  const controlFile = values['simulate-control'] ?? (io.env['MEDFLEET_SIMULATE_CONTROL'] || undefined);
  if (controlFile !== undefined) {
    if (controlFile.trim() === '') throw new AgentException('USAGE', '--simulate-control must not be empty');
    // The control steers the simulated clinic; asked for without one, it is most likely a mistake.
    if (deviceCount === undefined) {
      throw new AgentException(
        'USAGE',
        '--simulate-control (or MEDFLEET_SIMULATE_CONTROL) needs the simulated clinic: give --devices <n> too',
      );
    }
  }
  const maxMb = parseWholeNumber(
    '--outbox-max-mb',
    values['outbox-max-mb'] ?? (io.env['MEDFLEET_OUTBOX_MAX_MB'] || undefined),
    1,
    1024 * 1024,
  );
  const maxMessages = parseWholeNumber(
    '--outbox-max-messages',
    values['outbox-max-messages'] ?? (io.env['MEDFLEET_OUTBOX_MAX_MESSAGES'] || undefined),
    10,
    100_000_000,
  );
  const level = io.env['MEDFLEET_LOG_LEVEL'] || 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) {
    throw new AgentException(
      'USAGE',
      `MEDFLEET_LOG_LEVEL must be debug, info, warn or error, got ${JSON.stringify(level)}`,
    );
  }
  let identity = await readIdentity(stateDir);
  if (!identity) {
    // Zero-touch: a fresh box enrolls itself with the settings on its boot partition (or environment).
    const settings = await readBootstrapSettings(io.env, values['bootstrap-file']);
    // An enrollment already waiting for approval resumes with what it saved, token or not.
    const pending = await readPending(stateDir);
    if (pending) {
      settings.server = pending.server;
      settings.token ??= '';
      settings.insecure = pending.insecure;
      if (pending.trustedCaPem) settings.trustedCaPem = pending.trustedCaPem;
      settings.sources = [path.join(stateDir, PENDING_FILE)];
    }
    if (!settings.server || settings.token === undefined) {
      throw new AgentException(
        'NOT_ENROLLED',
        `not enrolled: ${path.join(stateDir, IDENTITY_FILE)} does not exist, and there are no bootstrap ` +
          `settings (server and token) in ${settings.sources.join(', ') || 'a bootstrap file or the environment'}; ` +
          'run "medfleet-agent enroll --server <host:port> --token <token>" first',
      );
    }
    io.out(
      `not enrolled yet: enrolling with ${settings.server} (settings from ${settings.sources.join(', ')})\n`,
    );
    ({ identity } = await enrollWithProgress(
      {
        server: settings.server,
        token: settings.token,
        stateDir,
        insecure: settings.insecure,
        ...(settings.trustedCaPem ? { trustedCaPem: settings.trustedCaPem } : {}),
      },
      io,
    ));
    io.out(`enrolled as agent ${identity.agentId}\n`);
  }
  const [{ Agent }, { sqliteOutbox }] = await Promise.all([
    import('./agent.js'),
    import('./sqlite-outbox.js'),
  ]);
  const logger = createLogger({ agentId: identity.agentId, level });
  let control: SimulateControlWatcher | undefined;
  if (controlFile !== undefined) {
    const { SimulateControlWatcher } = await import('./simulate-control.js');
    control = new SimulateControlWatcher({ file: path.resolve(controlFile), logger });
  }
  const agent = new Agent({
    identity,
    stateDir,
    logger,
    simulate: {
      ...(seedText === undefined ? {} : { seed: seedText }),
      ...(deviceCount === undefined ? {} : { deviceCount }),
      ...(control ? { installFault: control.installFault } : {}),
    },
    // Durable: every message is on disk before it is published, and survives kill -9 and power cuts.
    outbox: sqliteOutbox({
      ...(maxMb === undefined ? {} : { maxBytes: maxMb * 1024 * 1024 }),
      ...(maxMessages === undefined ? {} : { maxMessages }),
    }),
  });
  const signal = io.shutdownSignal();
  if (control) {
    if (!agent.clinic) throw new Error('the agent has no simulated clinic to steer');
    // Applied before the agent starts, so its first inventory and work orders already see it.
    await control.start(agent.clinic);
  }
  try {
    await agent.start();
    const { startCertificateRenewal } = await import('./renewal.js');
    const renewal = startCertificateRenewal({ stateDir, logger });
    logger.info({ signal: await signal }, 'shutting down');
    renewal.stop();
    await agent.stop();
  } finally {
    await control?.stop();
  }
  return EXIT_OK;
}

function parseWholeNumber(
  name: string,
  text: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new AgentException(
      'USAGE',
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function parseDeviceCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const count = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_DEVICES) {
    throw new AgentException(
      'USAGE',
      `--devices must be a whole number from 1 to ${MAX_DEVICES}, got ${JSON.stringify(text)}`,
    );
  }
  return count;
}
