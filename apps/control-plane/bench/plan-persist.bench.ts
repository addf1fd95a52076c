// bench:plan, persist half. First runs the library's planning benchmark (libs/scheduling/bench/plan.bench.mjs,
// 600,000 jobs in memory) and keeps its figure; then, in a fresh PostgreSQL database (BENCH_DATABASE_URL), runs
// the migrations, seeds one MSP with 200 practices, 10,000 sites in mixed time zones (policies, organization,
// county and site blackouts) and 60 devices per site, and plans and persists a campaign over them with the code
// the API uses (the campaign and maintenance repositories, the wave assignment, PatchJobRepository.insertPlanned
// in a tenant-scoped transaction as the app role). The database is dropped afterwards. The last line is JSON
// with both figures. Site attributes come from a fixed seed; device ids (and so the model mix per site) are random.
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { planPatchJobs, type PatchPlan } from '@medfleet/scheduling';
import { appDataSource, migrationDataSource } from '../src/database/data-source.js';
import { TenantDb, type TenantScope } from '../src/database/tenant-db.js';
import { assignWaves, planJobs, planOptions } from '../src/modules/campaigns/campaign-plan.js';
import { CampaignRepository, type CampaignDefinition } from '../src/modules/campaigns/campaign.repository.js';
import { PatchJobRepository } from '../src/modules/campaigns/patch-job.repository.js';
import { MaintenanceRepository } from '../src/modules/maintenance/maintenance.repository.js';
import { MaintenanceService } from '../src/modules/maintenance/maintenance.service.js';

const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TENANTS = 200;
const SITES_PER_TENANT = 50;
const DEVICES_PER_SITE = 60;
const EARLIEST_START = Date.parse('2026-11-16T00:00:00Z');
const HOUR = 3_600_000;
const LIB_BENCH = path.resolve(import.meta.dirname, '../../../../../libs/scheduling/bench/plan.bench.mjs');

const seconds = (ms: number) => Math.round(ms) / 1000;

/** Deterministic PRNG (xorshift32): every run seeds the same sites. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4_294_967_296;
  };
}
const random = prng(5_042_026);
function weighted<T>(choices: readonly (readonly [T, number])[]): T {
  const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [value, weight] of choices) if ((roll -= weight) < 0) return value;
  return (choices[choices.length - 1] as readonly [T, number])[0];
}

const ZONES = [
  ['America/New_York', 30],
  ['America/Chicago', 20],
  ['America/Denver', 8],
  ['America/Phoenix', 5],
  ['America/Los_Angeles', 20],
  ['America/Anchorage', 2],
  ['Pacific/Honolulu', 2],
  ['America/Puerto_Rico', 3],
  ['Europe/London', 3],
  ['Australia/Lord_Howe', 1],
  ['Pacific/Chatham', 1],
  ['Asia/Kolkata', 3],
  ['America/St_Johns', 2],
] as const;
const POLICIES = [
  [null, 55],
  [{ weekdays: { thu: { start: '23:00' } } }, 15],
  [{ weekdays: { sun: null } }, 10],
  [{ window: { start: '21:00', end: '06:00' } }, 10],
  [{ weekdays: { fri: { end: '07:00' }, sat: null } }, 10],
] as const;
const LIMITS = [
  [1, 20],
  [2, 35],
  [3, 20],
  [4, 15],
  [8, 10],
] as const;
/** Models with their estimated minutes; the last one is longer than any night (reported unplaced). */
const MODELS = [
  ['infusion-pump', 12, 30],
  ['patient-monitor', 20, 20],
  ['ct-console', 90, 5],
  ['pacs-gateway', 45, 7],
  ['label-printer', 8, 10],
  ['kiosk', 25, 8],
  ['ultrasound', 60, 8],
  ['ecg-cart', 30, 8],
  ['rpm-gateway', 15, 3.9],
  ['linac-console', 600, 0.1],
] as const;
const COUNTIES = Array.from({ length: 300 }, (_, index) => `County ${index}`);

/** Runs the library's benchmark, echoing its output, and answers its last (JSON) line. */
function runLibraryBench(): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LIB_BENCH], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      process.stdout.write(chunk);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`plan.bench.mjs exited with ${code}`));
      const last = output.trim().split('\n').pop() ?? '{}';
      resolve(JSON.parse(last) as Record<string, unknown>);
    });
  });
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** One MSP, its practices, sites, agents, devices, policies and blackouts, written as the owner. */
async function seed(
  owner: pg.Client,
): Promise<{ organizationId: string; tenantIds: string[]; canarySites: string[] }> {
  const organizationId = randomUUID();
  await owner.query(`INSERT INTO organizations (id, name, slug) VALUES ($1, 'Bench MSP', 'bench-msp')`, [
    organizationId,
  ]);
  const tenantIds = Array.from({ length: TENANTS }, () => randomUUID());
  await owner.query(
    `INSERT INTO tenants (id, organization_id, name) SELECT id, $1, 'Practice ' || n
       FROM unnest($2::uuid[]) WITH ORDINALITY AS t (id, n)`,
    [organizationId, tenantIds],
  );
  const sites = { tenant: [] as string[], id: [] as string[], zone: [] as string[], county: [] as string[] };
  const policies = { tenant: [] as string[], site: [] as string[], policy: [] as string[] };
  const own = { tenant: [] as string[], site: [] as string[] };
  for (const tenantId of tenantIds) {
    for (let index = 0; index < SITES_PER_TENANT; index++) {
      const id = randomUUID();
      sites.tenant.push(tenantId);
      sites.id.push(id);
      sites.zone.push(weighted(ZONES));
      sites.county.push(COUNTIES[Math.floor(random() * COUNTIES.length)] as string);
      const policy = weighted<Record<string, unknown> | null>(POLICIES);
      const limit = weighted(LIMITS);
      if (policy !== null || limit !== 1) {
        policies.tenant.push(tenantId);
        policies.site.push(id);
        policies.policy.push(JSON.stringify({ ...(policy ?? {}), maxConcurrentJobs: limit }));
      }
      if (random() < 0.05) {
        own.tenant.push(tenantId);
        own.site.push(id);
      }
    }
  }
  await owner.query(
    `INSERT INTO sites (tenant_id, id, name, county, time_zone)
     SELECT tenant_id, id, 'Site ' || id, county, zone
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS s (tenant_id, id, zone, county)`,
    [sites.tenant, sites.id, sites.zone, sites.county],
  );
  await owner.query(
    `INSERT INTO site_maintenance_policies (tenant_id, site_id, policy, updated_by)
     SELECT tenant_id, site_id, policy, 'bench' FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS p (tenant_id, site_id, policy)`,
    [policies.tenant, policies.site, policies.policy],
  );
  await owner.query(
    `INSERT INTO agents (tenant_id, id, site_id, hostname, agent_version, os, arch, serial, inventory_interval_sec,
                         health_interval_sec)
     SELECT tenant_id, gen_random_uuid(), id, 'pi-' || id, '1.0.0', 'linux', 'arm64', id::text, 300, 60 FROM sites`,
  );
  // Models by weight, as a lookup array the server indexes by a hash of (site, device number).
  const modelTable = MODELS.flatMap(([model, , weight]) =>
    Array.from({ length: Math.round(weight * 10) }, () => model),
  );
  await owner.query(
    `INSERT INTO devices (tenant_id, site_id, mac, category, vendor, model, firmware_version, first_seen_at,
                          last_seen_at, reporting_agent_id)
     SELECT a.tenant_id, a.site_id, lpad(to_hex(row_number() OVER ()), 12, '0')::macaddr, 'infusion_pump',
            'Acme Medical', ($1::text[])[1 + abs(hashtext(a.site_id::text || ':' || n)) % cardinality($1::text[])],
            '4.2.0', now(), now(), a.id
       FROM agents a CROSS JOIN generate_series(1, $2::int) AS n`,
    [modelTable, DEVICES_PER_SITE],
  );
  await owner.query(
    `INSERT INTO organization_blackouts (organization_id, id, scope, county, kind, starts_at, ends_at, first_date,
                                        last_date, reason, created_by)
     VALUES ($1, gen_random_uuid(), 'organization', NULL, 'local-dates', NULL, NULL, '2026-11-26', '2026-11-26',
             'Thanksgiving', 'bench')`,
    [organizationId],
  );
  for (let index = 0; index < 16; index++) {
    const storm = index < 12;
    const start = storm
      ? EARLIEST_START + (2 + (index % 4)) * 24 * HOUR
      : EARLIEST_START + (7 * 24 + 7 + (index - 12)) * HOUR;
    const end = storm ? start + 2 * 24 * HOUR : start + HOUR;
    await owner.query(
      `INSERT INTO organization_blackouts (organization_id, id, scope, county, kind, starts_at, ends_at, reason,
                                          created_by)
       VALUES ($1, gen_random_uuid(), 'county', $2, 'interval', $3, $4, $5, 'bench')`,
      [
        organizationId,
        COUNTIES[index],
        new Date(start),
        new Date(end),
        storm ? 'Storm freeze' : 'Change freeze',
      ],
    );
  }
  await owner.query(
    `INSERT INTO site_blackouts (tenant_id, id, site_id, kind, first_date, last_date, reason, created_by)
     SELECT tenant_id, gen_random_uuid(), site_id, 'local-dates', '2026-11-18', '2026-11-20', 'Moving', 'bench'
       FROM unnest($1::uuid[], $2::uuid[]) AS b (tenant_id, site_id)`,
    [own.tenant, own.site],
  );
  await owner.query('ANALYZE');
  return { organizationId, tenantIds, canarySites: sites.id.slice(0, 20) };
}

async function main(): Promise<void> {
  console.log('— planning benchmark (libs/scheduling) —');
  const library = await runLibraryBench();

  console.log('— persisting into PostgreSQL —');
  const name = `medfleet_bench_${Date.now()}`;
  await withClient(SERVER_URL, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const target = { url: url.toString(), embedded: false, poolSize: 2 };
  let appSource: ReturnType<typeof appDataSource> | null = null;
  try {
    let started = performance.now();
    const migrations = migrationDataSource(target);
    await migrations.initialize();
    await migrations.runMigrations({ transaction: 'each' });
    await migrations.destroy();
    console.log(`fresh database ${name}, migrations in ${seconds(performance.now() - started)} s`);

    started = performance.now();
    const { organizationId, tenantIds, canarySites } = await withClient(target.url, seed);
    console.log(
      `seeded ${TENANTS} practices, ${TENANTS * SITES_PER_TENANT} sites, ${TENANTS * SITES_PER_TENANT * DEVICES_PER_SITE} devices in ${seconds(performance.now() - started)} s`,
    );

    appSource = appDataSource(target, []);
    await appSource.initialize();
    const tenantDb = new TenantDb(appSource);
    const scope: TenantScope = { organizationId, tenantIds: [] };
    const campaigns = new CampaignRepository();
    const jobs = new PatchJobRepository();
    // Only planSites is used: it needs the repository, not the site lookups or the audit trail.
    const maintenance = new MaintenanceService(
      tenantDb,
      null as never,
      new MaintenanceRepository(),
      null as never,
    );

    const definition: CampaignDefinition = {
      name: 'Bench campaign',
      description: null,
      tenantIds,
      siteIds: [],
      target: { vendor: 'Acme Medical' },
      artifact: {
        version: '4.3.0',
        sha256: 'b'.repeat(64),
        signature: 'c2lnbmF0dXJlIG9mIHRoZSBiZW5jaA==',
        sizeBytes: 1,
      },
      procedure: null,
      waves: [
        { canarySiteIds: canarySites, soakHours: 12, successRatePercent: 95 },
        { percent: 10, soakHours: 6, successRatePercent: 95 },
        { percent: 90, successRatePercent: 95 },
      ],
      abortPolicy: { failurePercent: 10, minExecuted: 50 },
      catchUp: { mode: 'same-window', maxRollovers: 3 },
      durations: {
        minutesByModel: Object.fromEntries(MODELS.map(([model, minutes]) => [model, minutes])),
        marginPercent: 20,
        marginMinutes: 2,
      },
      earliestStart: new Date(EARLIEST_START),
      horizonDays: 28,
    };
    const campaignId = randomUUID();
    await tenantDb.run(scope, (tx) => campaigns.insert(tx, organizationId, campaignId, definition, 'bench'));

    started = performance.now();
    const inputs = await tenantDb.run(scope, async (tx) => {
      const sites = await campaigns.sites(tx, tenantIds, []);
      const devices = await campaigns.targetDevices(
        tx,
        tenantIds,
        sites.map((site) => site.id),
        definition.target.vendor,
        [],
      );
      return { devices, planSites: await maintenance.planSites(tx, sites) };
    });
    const loadSeconds = seconds(performance.now() - started);
    console.log(
      `loaded ${inputs.planSites.length} sites and ${inputs.devices.length} devices in ${loadSeconds} s`,
    );

    started = performance.now();
    const planInput = planJobs(inputs.devices, assignWaves(definition.waves, inputs.devices));
    const wavesSeconds = seconds(performance.now() - started);
    started = performance.now();
    const plan: PatchPlan = planPatchJobs(
      inputs.planSites,
      planInput,
      planOptions(definition, EARLIEST_START),
    );
    const planFromDbSeconds = seconds(performance.now() - started);
    console.log(
      `waves assigned in ${wavesSeconds} s; planned from the database in ${planFromDbSeconds} s: ${plan.placed.length} placed, ${plan.unplaced.length} unplaced`,
    );

    const tenantOf = new Map(inputs.devices.map((device) => [device.id, device.tenantId]));
    const rows = plan.placed.map((planned) => ({ tenantId: tenantOf.get(planned.jobId) as string, planned }));
    started = performance.now();
    const written = await tenantDb.run(scope, (tx) => jobs.insertPlanned(tx.db, campaignId, rows));
    const persistMs = performance.now() - started;
    const persistSeconds = seconds(persistMs);
    const stored = await withClient(target.url, async (owner) => {
      const result = await owner.query(`SELECT count(*)::int AS n FROM patch_jobs WHERE campaign_id = $1`, [
        campaignId,
      ]);
      return (result.rows[0] as { n: number }).n;
    });
    if (stored !== written || written !== plan.placed.length) {
      throw new Error(`persisted ${stored} rows, wrote ${written}, planned ${plan.placed.length}`);
    }
    console.log(
      `persisted ${written} planned jobs in ${persistSeconds} s (${Math.round(written / (persistMs / 1000))} rows/s, batches of 25,000, one transaction)`,
    );
    const planSeconds = library['planSeconds'] as number;
    console.log(
      JSON.stringify({
        bench: 'plan',
        sites: library['sites'],
        jobs: library['jobs'],
        planSeconds,
        planSecondsBest: library['planSecondsBest'],
        unplaced: library['unplaced'],
        persistedJobs: written,
        persistSeconds,
        persistRowsPerSecond: Math.round(written / (persistMs / 1000)),
        planFromDatabaseSeconds: planFromDbSeconds,
        loadFromDatabaseSeconds: loadSeconds,
        goalPlanSeconds: 5,
        goalPersistSeconds: 30,
      }),
    );
  } finally {
    await appSource?.destroy();
    await withClient(SERVER_URL, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
