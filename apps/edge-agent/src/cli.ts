/** The `medfleet-agent` command line: argument parsing, settings from the environment, and the two commands. */
import { parseArgs } from 'node:util';
import { AgentException, type AgentExceptionCode } from './agent.exception.js';
import { createLogger } from './logger.js';
import { DEFAULT_DURABLE_OUTBOX_MAX_BYTES, DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES } from './outbox.js';
import { defaultStateDir, loadIdentity } from './state.js';
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

export const USAGE = `Usage: medfleet-agent <command> [options]

Commands:
  enroll   Trade an enrollment token for this agent's identity (stored in the state directory)
  run      Connect to the control plane and report this site's devices and the agent's health

Enroll options:
  --server <host:port>     Control-plane gRPC endpoint         (env MEDFLEET_SERVER)
  --token <token>          Enrollment token mfe_<tenant>_<...>  (env MEDFLEET_ENROLLMENT_TOKEN)
  --insecure               Plaintext gRPC instead of TLS (development only)
  --force                  Enroll again, replacing the stored identity

Run options:
  --simulate-seed <seed>   Seed of the simulated clinic (env MEDFLEET_SIMULATE_SEED; default: the agent id)
  --devices <n>            Number of simulated devices, 1-2000
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
        'state-dir': { type: 'string' },
        insecure: { type: 'boolean' },
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
  if (insecure) io.err('medfleet-agent: warning: enrolling over plaintext gRPC (--insecure)\n');
  // Loaded only for this command: gRPC and protobuf would add several MB to a running agent's memory.
  const { enroll } = await import('./enroll.js');
  const result = await enroll({ server, token, stateDir, insecure, force: values.force === true });
  if (result.looseStateDirMode !== undefined) {
    io.err(
      `medfleet-agent: warning: state directory ${stateDir} has mode ${result.looseStateDirMode.toString(8)}; ` +
        'it holds credentials, consider chmod 700\n',
    );
  }
  const { identity } = result;
  io.out(
    `enrolled as agent ${identity.agentId} (tenant ${identity.tenantId}, site ${identity.siteId}); ` +
      `identity stored in ${result.identityFile}\n`,
  );
  return EXIT_OK;
}

async function runCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseUsage(() =>
    parseArgs({
      args: [...args],
      strict: true,
      options: {
        'state-dir': { type: 'string' },
        'simulate-seed': { type: 'string' },
        devices: { type: 'string' },
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
  const identity = await loadIdentity(stateDir);
  const [{ Agent }, { sqliteOutbox }] = await Promise.all([
    import('./agent.js'),
    import('./sqlite-outbox.js'),
  ]);
  const logger = createLogger({ agentId: identity.agentId, level });
  const agent = new Agent({
    identity,
    stateDir,
    logger,
    simulate: {
      ...(seedText === undefined ? {} : { seed: seedText }),
      ...(deviceCount === undefined ? {} : { deviceCount }),
    },
    // Durable: every message is on disk before it is published, and survives kill -9 and power cuts.
    outbox: sqliteOutbox({
      ...(maxMb === undefined ? {} : { maxBytes: maxMb * 1024 * 1024 }),
      ...(maxMessages === undefined ? {} : { maxMessages }),
    }),
  });
  const signal = io.shutdownSignal();
  await agent.start();
  logger.info({ signal: await signal }, 'shutting down');
  await agent.stop();
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
