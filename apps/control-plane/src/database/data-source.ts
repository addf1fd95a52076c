/** TypeORM data sources: one owner connection for migrations, one pool whose sessions run as the app role. */
import { DataSource, type DataSourceOptions } from 'typeorm';
import { APP_ROLE, Foundation1764720000000 } from './migrations/1764720000000-foundation.js';
import { Identity1764720200000 } from './migrations/1764720200000-identity.js';
import { Audit1764720100000 } from './migrations/1764720100000-audit.js';
import { AgentEvents1764720300000 } from './migrations/1764720300000-agent-events.js';
import { AgentIdentity1764720400000 } from './migrations/1764720400000-agent-identity.js';
import { AgentHealth1764720500000 } from './migrations/1764720500000-agent-health.js';
import { Campaigns1764720600000 } from './migrations/1764720600000-campaigns.js';
import { Dispatch1764720700000 } from './migrations/1764720700000-dispatch.js';
import { CampaignGates1764720800000 } from './migrations/1764720800000-campaign-gates.js';
import { AgentPolicyCopy1764720900000 } from './migrations/1764720900000-agent-policy-copy.js';

export const MIGRATIONS = [
  Foundation1764720000000,
  Identity1764720200000,
  Audit1764720100000,
  AgentEvents1764720300000,
  AgentIdentity1764720400000,
  AgentHealth1764720500000,
  Campaigns1764720600000,
  Dispatch1764720700000,
  CampaignGates1764720800000,
  AgentPolicyCopy1764720900000,
];

export interface DatabaseTarget {
  url: string;
  /** Embedded PGlite shares one backend between all connections: no session-level role switch there. */
  embedded: boolean;
  poolSize: number;
}

export function migrationDataSource(target: DatabaseTarget): DataSource {
  return new DataSource({
    ...base(target),
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    extra: { max: 1 },
  });
}

/**
 * The application's pool. On a real server every session starts as the app role, so even a query that
 * escaped the tenant transaction runs without privileges beyond it and sees no tenant's rows.
 */
export function appDataSource(target: DatabaseTarget, entities: DataSourceOptions['entities']): DataSource {
  return new DataSource({
    ...base(target),
    entities,
    extra: {
      max: target.embedded ? Math.min(target.poolSize, 4) : target.poolSize,
      ...(target.embedded ? {} : { options: `-c role=${APP_ROLE}` }),
    },
  });
}

function base(target: DatabaseTarget) {
  return {
    type: 'postgres' as const,
    url: target.url,
    synchronize: false,
    migrationsRun: false,
    logging: false,
  };
}
