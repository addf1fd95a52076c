import { JOB_REFUSE_REASONS, type JobProgressBody } from '@medfleet/contracts';
import { describe, expect, it } from 'vitest';
import { stateAfter } from './job-progress.repository.js';

const base = {
  jobId: '7b0c3a52-5a43-4a57-9a57-0f3f7e1c2d11',
  campaignId: '1e7c1c5e-7a0a-4a2f-9d36-3a8c1b0f9e22',
  attempt: 1,
  at: '2026-12-04T03:10:00Z',
};

describe('stateAfter', () => {
  it('maps what the agent reports to the job state', () => {
    const cases: [JobProgressBody, ReturnType<typeof stateAfter>][] = [
      [{ ...base, state: 'accepted', adapter: 'simulator' }, null],
      [{ ...base, state: 'running', step: 'apply', percent: 10 }, 'running'],
      [{ ...base, state: 'waiting_manual', title: 'Swap', checklist: ['Swap the battery'] }, 'running'],
      [{ ...base, state: 'succeeded', firmwareVersion: '12.3.0' }, 'succeeded'],
      [{ ...base, state: 'failed', reason: 'FIRMWARE_NOT_UPDATED', detail: 'old firmware' }, 'failed'],
      [{ ...base, state: 'deferred', reason: 'IN_CLINICAL_USE', detail: 'in use' }, 'deferred'],
    ];
    for (const [body, expected] of cases) expect(stateAfter(body), body.state).toBe(expected);
  });

  it('defers a refused job that a later dispatch may run, and fails one that no dispatch will', () => {
    const refused = (reason: (typeof JOB_REFUSE_REASONS)[number]) =>
      stateAfter({ ...base, state: 'refused', reason, detail: 'refused' });
    expect(refused('OUTSIDE_WINDOW')).toBe('deferred');
    expect(refused('EXPIRED')).toBe('deferred');
    expect(refused('UNKNOWN_KEY')).toBe('deferred');
    expect(refused('JOB_IN_PROGRESS')).toBe('deferred');
    expect(refused('ALREADY_SUCCEEDED')).toBe('succeeded');
    expect(refused('SUPERSEDED')).toBeNull();
    for (const reason of [
      'SCHEMA_INVALID',
      'BAD_SIGNATURE',
      'WRONG_AGENT',
      'DEVICE_UNKNOWN',
      'UNSUPPORTED_ACTION',
    ] as const) {
      expect(refused(reason), reason).toBe('failed');
    }
    // Every reason the contract knows has a rule.
    for (const reason of JOB_REFUSE_REASONS)
      expect(['deferred', 'succeeded', 'failed', null]).toContain(refused(reason));
  });
});
