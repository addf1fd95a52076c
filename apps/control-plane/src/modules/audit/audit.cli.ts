/**
 * `medfleet-control-plane verify-audit | checkpoint-audit | purge-audit`: operator commands on the audit
 * trail. They connect as the database owner. On the embedded database they open DATA_DIR themselves, so
 * the server must be stopped first (use GET /api/v1/audit/verify while it runs).
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { ConfigError, type AppConfig } from '../../config/app-config.js';
import { migrate } from '../../control-plane.js';
import type { DatabaseTarget } from '../../database/data-source.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../infra/embedded-postgres.js';
import { operatorActor } from './audit-event.js';
import { AuditMaintenance, type PurgeReport } from './audit-maintenance.js';
import type { VerificationReport } from './audit-verifier.js';

export const AUDIT_COMMANDS = ['verify-audit', 'checkpoint-audit', 'purge-audit'] as const;
export type AuditCommand = (typeof AUDIT_COMMANDS)[number];

export interface AuditCommandOptions {
  tenantId?: string;
  dryRun?: boolean;
  json?: boolean;
  /** The purge's clock; only tests move it. */
  now?: Date;
}

interface Logger {
  warn(message: string): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isAuditCommand(command: string): command is AuditCommand {
  return (AUDIT_COMMANDS as readonly string[]).includes(command);
}

/** Runs a command against DATABASE_URL, or the embedded database under DATA_DIR. Answers the exit code. */
export async function runAuditCommand(
  command: AuditCommand,
  config: AppConfig,
  logger: Logger,
  options: AuditCommandOptions,
  out: Writable = process.stdout,
  err: Writable = process.stderr,
): Promise<number> {
  if (options.tenantId !== undefined && !UUID.test(options.tenantId)) {
    err.write(`${command}: --tenant must be a tenant id (UUID)\n`);
    return 64;
  }
  let embedded: EmbeddedPostgres | null = null;
  let url = config.DATABASE_URL;
  if (!url) {
    // PGlite does not lock its directory: a second process opening it beside a running server corrupts it.
    // Its postmaster.pid (see infra/embedded-postgres.ts for the directory) outlives an unclean stop, so a
    // server is taken to be running only when the HTTP port answers too.
    const pidFile = path.join(config.DATA_DIR, 'pglite', 'postmaster.pid');
    if (existsSync(pidFile) && (await answers(config.HOST, config.PORT))) {
      err.write(
        `${command}: the embedded database in ${config.DATA_DIR} is in use by the control plane on ` +
          `${config.HOST}:${config.PORT}; stop it first, or use GET /api/v1/audit/verify while it runs.\n`,
      );
      return 75;
    }
    embedded = await startEmbeddedPostgres(config.DATA_DIR, 0);
    url = embedded.url;
  }
  try {
    return await executeAuditCommand(
      command,
      { url, embedded: config.embeddedDatabase, poolSize: 1 },
      config,
      logger,
      options,
      out,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems)
      err.write(`configuration error: ${problem.variable}: ${problem.message}\n`);
    return 78;
  } finally {
    await embedded?.stop();
  }
}

/** The command against a reachable database (the tests call this beside a running control plane). */
export async function executeAuditCommand(
  command: AuditCommand,
  target: DatabaseTarget,
  config: AppConfig,
  logger: Logger,
  options: AuditCommandOptions,
  out: Writable,
): Promise<number> {
  await migrate(target);
  const maintenance = await AuditMaintenance.open(target, config, logger);
  try {
    switch (command) {
      case 'verify-audit': {
        const report = await maintenance.verify(options.tenantId);
        out.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeVerification(report));
        return report.intact ? 0 : 1;
      }
      case 'checkpoint-audit': {
        const created = await maintenance.checkpoint(options.tenantId);
        for (const checkpoint of created) {
          out.write(
            `signed chain ${checkpoint.chainKey} at seq ${checkpoint.seq} (key ${checkpoint.keyId})\n`,
          );
        }
        out.write(`${created.length} checkpoint(s)\n`);
        return 0;
      }
      case 'purge-audit': {
        const report = await maintenance.purge({
          retentionYears: config.AUDIT_RETENTION_YEARS,
          tenantId: options.tenantId,
          now: options.now,
          dryRun: options.dryRun,
          actor: operatorActor('purge-audit'),
        });
        out.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describePurge(report));
        return report.chains.some((chain) => chain.outcome === 'refused_broken') ? 1 : 0;
      }
    }
  } finally {
    await maintenance.close();
  }
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

function chainName(chain: { chainKey: string; tenantId: string | null }): string {
  return chain.tenantId ? `tenant ${chain.tenantId}` : `organization ${chain.chainKey}`;
}

export function describeVerification(report: VerificationReport): string {
  const lines = report.chains.map((chain) => {
    const extent = `${chain.entries} entries, seq ${chain.firstSeq}..${chain.lastSeq}, ${chain.checkpoints} checkpoint(s)`;
    const broken = chain.firstBroken;
    return broken
      ? `BROKEN  ${chainName(chain)}: ${extent}; first broken seq ${broken.seq}${broken.id ? ` (entry ${broken.id})` : ''}: ${broken.problem}: ${broken.detail}`
      : `intact  ${chainName(chain)}: ${extent}`;
  });
  lines.push(report.intact ? `audit trail intact (${report.chains.length} chain(s))` : 'audit trail BROKEN');
  return `${lines.join('\n')}\n`;
}

export function describePurge(report: PurgeReport): string {
  const lines = report.chains.map((chain) => {
    switch (chain.outcome) {
      case 'purged':
        return `purged  ${chainName(chain)}: ${chain.removed} entries through seq ${chain.throughSeq}`;
      case 'would_purge':
        return `would purge  ${chainName(chain)}: ${chain.removed} entries through seq ${chain.throughSeq}`;
      case 'nothing_to_purge':
        return `kept    ${chainName(chain)}: no whole prefix older than the cutoff`;
      case 'refused_broken':
        return `REFUSED ${chainName(chain)}: the chain is broken at seq ${chain.firstBroken?.seq} (${chain.firstBroken?.problem}); run verify-audit`;
    }
  });
  lines.push(
    `retention ${report.retentionYears} years: cutoff ${report.cutoff}${report.dryRun ? ' (dry run, nothing removed)' : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
