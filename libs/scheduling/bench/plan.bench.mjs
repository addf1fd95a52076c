// bench:plan — plan one campaign over 10,000 sites × 60 devices (600,000 jobs): mixed time zones, weekday
// overrides, organization/county/site blackouts, concurrency limits from 1 to 8, three waves. Inputs are generated
// from a fixed seed; only planPatchJobs is timed for the plan figure. Run after building the library
// (`npm run bench:plan` does both). Prints figures, then one JSON line as the last line.
import { blackoutsForSite, planPatchJobs, plannedJobRow } from '../dist/index.js';

const SITES = 10_000;
const DEVICES_PER_SITE = 60;
const RUNS = 3;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Deterministic PRNG (mulberry32), so every run plans the same campaign. */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const random = prng(20_261_120);
const pick = (weighted) => {
  let roll = random() * weighted.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [value, weight] of weighted) if ((roll -= weight) < 0) return value;
  return weighted[weighted.length - 1][0];
};

const ZONES = [
  ['America/New_York', 28],
  ['America/Chicago', 18],
  ['America/Denver', 7],
  ['America/Phoenix', 5],
  ['America/Los_Angeles', 18],
  ['America/Anchorage', 2],
  ['Pacific/Honolulu', 2],
  ['America/Puerto_Rico', 3],
  ['Europe/London', 4],
  ['Australia/Sydney', 4],
  ['Australia/Lord_Howe', 1],
  ['Pacific/Chatham', 1],
  ['Asia/Kolkata', 3],
  ['America/St_Johns', 2],
  ['America/Sao_Paulo', 2],
];
const POLICIES = [
  [{}, 60],
  [{ weekdays: { thu: { start: '23:00' } } }, 15],
  [{ weekdays: { sun: null } }, 10],
  [{ window: { start: '21:00', end: '06:00' } }, 10],
  [{ weekdays: { fri: { end: '07:00' }, sat: null } }, 5],
];
const LIMITS = [
  [1, 20],
  [2, 35],
  [3, 20],
  [4, 15],
  [8, 10],
];
/** Estimated minutes by model; the last is longer than any night and is reported unplaced. */
const MODELS = [
  ['infusion-pump', 12, 30],
  ['patient-monitor', 20, 20],
  ['ct-console', 95, 5],
  ['pacs-gateway', 45, 6],
  ['label-printer', 8, 10],
  ['kiosk', 25, 8],
  ['ultrasound', 60, 8],
  ['ecg-cart', 30, 8],
  ['rpm-gateway', 15, 4.9],
  ['linac-console', 480, 0.1],
];
const byModel = Object.fromEntries(MODELS.map(([model, minutes]) => [model, minutes * MINUTE]));
const modelWeights = MODELS.map(([model, , weight]) => [model, weight]);

const earliestStart = Date.parse('2026-11-16T00:00:00Z');
const horizonEnd = earliestStart + 28 * 24 * HOUR;
const COUNTIES = Array.from({ length: 300 }, (_, index) => `county-${index}`);
const allBlackouts = [
  // Thanksgiving night everywhere, in each site's own calendar.
  {
    kind: 'local-dates',
    id: 'thanksgiving',
    firstDate: '2026-11-26',
    lastDate: '2026-11-26',
    scope: { level: 'organization' },
  },
  // A storm freeze over twelve counties, and a change freeze cutting every window of the night in four counties.
  ...COUNTIES.slice(0, 12).map((county, index) => ({
    kind: 'interval',
    id: `storm-${index}`,
    start: earliestStart + (2 + (index % 4)) * 24 * HOUR,
    end: earliestStart + (4 + (index % 4)) * 24 * HOUR,
    scope: { level: 'county', county },
  })),
  ...COUNTIES.slice(12, 16).map((county, index) => ({
    kind: 'interval',
    id: `freeze-${index}`,
    start: earliestStart + (7 * 24 + 7 + index) * HOUR,
    end: earliestStart + (7 * 24 + 8 + index) * HOUR,
    scope: { level: 'county', county },
  })),
];

function generate() {
  const sites = [];
  const jobs = [];
  for (let index = 0; index < SITES; index++) {
    const id = `site-${String(index).padStart(5, '0')}`;
    const county = COUNTIES[Math.floor(random() * COUNTIES.length)];
    const own =
      random() < 0.05
        ? [
            {
              kind: 'local-dates',
              id: `${id}-move`,
              firstDate: '2026-11-18',
              lastDate: '2026-11-20',
              scope: { level: 'site', siteId: id },
            },
          ]
        : [];
    sites.push({
      id,
      county,
      timeZone: pick(ZONES),
      policy: { ...pick(POLICIES), maxConcurrentJobs: pick(LIMITS) },
      ownBlackouts: own,
    });
    // Canary: the first 20 sites; wave 1: the next 10 %; wave 2: the rest.
    const wave = index < 20 ? 0 : index < 20 + SITES / 10 ? 1 : 2;
    for (let device = 0; device < DEVICES_PER_SITE; device++) {
      jobs.push({
        id: `${id}-dev-${String(device).padStart(2, '0')}`,
        siteId: id,
        model: pick(modelWeights),
        wave,
      });
    }
  }
  return { sites, jobs };
}

const memory = () => Math.round(process.memoryUsage().rss / 1_048_576);
const seconds = (ms) => Math.round(ms) / 1000;

let started = performance.now();
const { sites: rawSites, jobs } = generate();
console.log(
  `inputs: ${rawSites.length} sites, ${jobs.length} jobs generated in ${seconds(performance.now() - started)} s`,
);

started = performance.now();
const sites = rawSites.map(({ ownBlackouts, ...site }) => ({
  ...site,
  blackouts: blackoutsForSite(site, [...allBlackouts, ...ownBlackouts]),
}));
const filterSeconds = seconds(performance.now() - started);
console.log(`blackouts matched to sites in ${filterSeconds} s`);

const options = {
  earliestStart,
  horizonEnd,
  durations: { byModel, marginRatio: 0.2, marginMs: 2 * MINUTE },
  waves: [{ wave: 0, soakMs: 12 * HOUR }, { wave: 1, soakMs: 6 * HOUR }, { wave: 2 }],
};

const runs = [];
let plan;
for (let run = 0; run < RUNS; run++) {
  started = performance.now();
  plan = planPatchJobs(sites, jobs, options);
  runs.push(performance.now() - started);
  console.log(
    `plan run ${run + 1}${run === 0 ? ' (cold)' : ''}: ${seconds(runs[run])} s, ${plan.placed.length} placed, ${plan.unplaced.length} unplaced`,
  );
}

started = performance.now();
let characters = 0;
for (const job of plan.placed) characters += plannedJobRow(job).length;
const rowSeconds = seconds(performance.now() - started);
console.log(`rows for COPY/INSERT (plannedJobRow) built in ${rowSeconds} s (${characters / 8} rows)`);

const reasons = {};
for (const job of plan.unplaced) reasons[job.reason] = (reasons[job.reason] ?? 0) + 1;
for (const wave of plan.waves) {
  console.log(
    `wave ${wave.wave}: ${wave.placed} placed, ${wave.unplaced} unplaced, ${new Date(wave.firstStartMs).toISOString()} → ${new Date(wave.lastEndMs).toISOString()}`,
  );
}
console.log(`unplaced by reason: ${JSON.stringify(reasons)}; RSS ${memory()} MB`);

const coldSeconds = seconds(runs[0]);
const bestSeconds = seconds(Math.min(...runs));
console.log(
  `plan: ${jobs.length} jobs in ${coldSeconds} s (${Math.round(jobs.length / coldSeconds)} jobs/s; best of ${RUNS}: ${bestSeconds} s), unplaced ${plan.unplaced.length}`,
);
console.log(
  JSON.stringify({
    bench: 'plan',
    sites: SITES,
    jobs: jobs.length,
    planSeconds: coldSeconds,
    planSecondsBest: bestSeconds,
    jobsPerSecond: Math.round(jobs.length / coldSeconds),
    placed: plan.placed.length,
    unplaced: plan.unplaced.length,
    unplacedByReason: reasons,
    rowSeconds,
    rssMb: memory(),
    goalPlanSeconds: 5,
  }),
);
