#!/usr/bin/env node
/** `medfleet-control-plane [serve|migrate|create-organization|verify-audit|…]`: the control plane's command line. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type AppConfig } from './config/app-config.js';
import { createLogger } from './infra/logger.js';
import { migrate, startControlPlane } from './control-plane.js';
import { OrganizationService } from './modules/organizations/organization.service.js';
import { operatorActor } from './modules/audit/audit-event.js';
import { runAuditCommand } from './modules/audit/audit.cli.js';
import { IDENTITY_OPTIONS, IDENTITY_USAGE, runIdentityCommand } from './modules/identity/identity.cli.js';

const USAGE = `Usage: medfleet-control-plane [command]

Commands:
  serve                                   run the control plane (default)
  migrate                                 apply database migrations and exit (needs DATABASE_URL)
  create-organization --name N --slug S   create an MSP organization and print its API key once
  verify-audit [--tenant ID] [--json]     verify the audit trail's hash chains and checkpoints
                                          (exit 0 intact, 1 broken; names the first broken entry)
  checkpoint-audit [--tenant ID]          sign the head of every audit chain now
  purge-audit [--tenant ID] [--dry-run]   remove audit entries older than AUDIT_RETENTION_YEARS, up to a
                                          signed checkpoint (the chain stays verifiable)
  The audit commands connect as the database owner; on the embedded database, stop the server first.
${IDENTITY_USAGE}

Configuration comes from the environment; see the README's configuration table.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      slug: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      tenant: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      ...IDENTITY_OPTIONS,
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) {
        process.stderr.write(`configuration error: ${problem.variable}: ${problem.message}\n`);
      }
      return 78;
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const command = positionals[0] ?? 'serve';

  switch (command) {
    case 'migrate': {
      if (!config.DATABASE_URL) {
        process.stderr.write('migrate needs DATABASE_URL (the embedded database migrates itself at start)\n');
        return 64;
      }
      const applied = await migrate({ url: config.DATABASE_URL, embedded: false, poolSize: 1 });
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
      return 0;
    }
    case 'create-organization': {
      if (!values.name || !values.slug) {
        process.stderr.write('create-organization needs --name and --slug\n');
        return 64;
      }
      const running = await startControlPlane(
        { ...config, PORT: 0, GRPC_PORT: 0 },
        logger.child({}, { level: 'warn' }),
      );
      try {
        const created = await running.app
          .get(OrganizationService)
          .create(values.name, values.slug, operatorActor('create-organization'));
        process.stdout.write(
          `organization ${created.organization.id}\nMEDFLEET_API_KEY=${created.apiKey.token}\n`,
        );
        return 0;
      } finally {
        await running.close();
      }
    }
    case 'verify-audit':
    case 'checkpoint-audit':
    case 'purge-audit':
      return runAuditCommand(command, config, logger, {
        tenantId: values.tenant,
        dryRun: values['dry-run'],
        json: values.json,
      });
    case 'create-user':
    case 'configure-oidc':
      return runIdentityCommand(command, config, logger, values);
    case 'serve': {
      const running = await startControlPlane(config, logger);
      if (running.initialApiKey) {
        // Shown once: only its hash is stored.
        process.stdout.write(
          `\nFirst start: the default organization's API key (shown once, store it now):\nMEDFLEET_API_KEY=${running.initialApiKey}\n\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      logger.info('shutting down');
      await running.close();
      return 0;
    }
    default:
      process.stderr.write(`unknown command ${command}\n\n${USAGE}\n`);
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
