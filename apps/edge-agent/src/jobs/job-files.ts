/** Where the job records live in the state directory; apart from job-store.ts so the agent can look without loading it. */
export const JOBS_FILE = 'jobs.json';
