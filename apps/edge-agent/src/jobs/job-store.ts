/**
 * What the agent remembers about the jobs it was given, in `jobs.json` in the state directory: the last state
 * of each job's latest attempt. It makes a re-delivered order run once, also across a restart, and lets a
 * restarted agent report the jobs a crash interrupted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JobState } from '@medfleet/contracts';
import { z } from 'zod';
import { writeFileAtomic } from '../state.js';
import { JOBS_FILE } from './job-files.js';

export { JOBS_FILE };
/** Jobs remembered at most; the oldest finished ones go first. */
const MAX_JOBS = 2_000;
const KEEP_FINISHED_MS = 60 * 24 * 3600 * 1000;

const recordSchema = z.strictObject({
  jobId: z.string(),
  campaignId: z.string(),
  attempt: z.number().int().positive(),
  state: z.enum(['accepted', 'refused', 'running', 'waiting_manual', 'deferred', 'succeeded', 'failed']),
  step: z.enum(['precheck', 'apply', 'verify']).optional(),
  /** Epoch ms, by the agent's job clock. */
  updatedAt: z.number(),
  deadline: z.string(),
});
export type JobRecord = z.infer<typeof recordSchema>;
const fileSchema = z.strictObject({ jobs: z.array(recordSchema) });

/** Accepted, running or waiting for a technician: the agent still owes an outcome. */
export const OPEN_STATES: readonly JobState[] = ['accepted', 'running', 'waiting_manual'];

export class JobStore {
  private constructor(
    private readonly file: string,
    private readonly jobs: Map<string, JobRecord>,
  ) {}

  /** Reads `jobs.json`; a missing one is empty, an unreadable one is moved aside (and the problem returned). */
  static async open(stateDir: string): Promise<{ store: JobStore; problem?: string }> {
    const file = path.join(stateDir, JOBS_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { store: new JobStore(file, new Map()) };
      throw error;
    }
    let problem: string;
    try {
      const parsed = fileSchema.safeParse(JSON.parse(text));
      if (parsed.success) {
        return { store: new JobStore(file, new Map(parsed.data.jobs.map((job) => [job.jobId, job]))) };
      }
      problem = `${JOBS_FILE} does not match its schema: ${parsed.error.issues[0]?.message ?? ''}`;
    } catch (error) {
      problem = `${JOBS_FILE} is not valid JSON: ${(error as Error).message}`;
    }
    await fs.rename(file, `${file}.corrupt-${Date.now()}`);
    return { store: new JobStore(file, new Map()), problem };
  }

  get(jobId: string): JobRecord | undefined {
    return this.jobs.get(jobId);
  }

  open(): JobRecord[] {
    return [...this.jobs.values()].filter((job) => OPEN_STATES.includes(job.state));
  }

  /** Records a job's new state; durable once resolved. */
  async save(record: JobRecord): Promise<void> {
    this.jobs.delete(record.jobId);
    this.jobs.set(record.jobId, record);
    this.prune(record.updatedAt);
    await writeFileAtomic(this.file, JSON.stringify({ jobs: [...this.jobs.values()] }));
  }

  private prune(now: number): void {
    for (const [jobId, job] of this.jobs) {
      if (this.jobs.size <= MAX_JOBS && now - job.updatedAt < KEEP_FINISHED_MS) continue;
      if (!OPEN_STATES.includes(job.state)) this.jobs.delete(jobId);
    }
  }
}
