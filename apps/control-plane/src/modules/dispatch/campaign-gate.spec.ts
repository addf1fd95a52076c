import { describe, expect, it } from 'vitest';
import { decideGate, waveGate, type GateInput, type WaveCounts } from './campaign-gate.js';

const NOW = Date.parse('2026-12-05T04:00:00Z');
const HOUR = 3_600_000;

function wave(partial: Partial<WaveCounts> & { total: number }): WaveCounts {
  return { succeeded: 0, failed: 0, cancelled: 0, lastFinishedMs: null, ...partial };
}

function input(counts: [number, WaveCounts][], overrides: Partial<GateInput> = {}): GateInput {
  return {
    waves: [{ successRatePercent: 100 }, { successRatePercent: 90 }, { successRatePercent: 90 }],
    counts: new Map(counts),
    releasedWave: 0,
    abortPolicy: { failurePercent: 50, minExecuted: 4 },
    abortBaseline: { executed: 0, failed: 0 },
    nowMs: NOW,
    ...overrides,
  };
}

describe('decideGate', () => {
  it('waits while the released wave has open jobs', () => {
    const decision = decideGate(
      input([
        [0, wave({ total: 2, succeeded: 1 })],
        [1, wave({ total: 10 })],
      ]),
    );
    expect(decision).toEqual({ kind: 'wait', detail: 'wave 0: 1 of 2 jobs open' });
  });

  it('releases the next wave once the canary passed its gate', () => {
    const decision = decideGate(
      input([
        [0, wave({ total: 2, succeeded: 2, lastFinishedMs: NOW - 1000 })],
        [1, wave({ total: 10 })],
      ]),
    );
    expect(decision).toEqual({ kind: 'release', wave: 1, after: 0, successRatePercent: 100 });
  });

  it('pauses with GATE_FAILED when the finished wave is below its gate', () => {
    const decision = decideGate(
      input(
        [
          [0, wave({ total: 2, succeeded: 2 })],
          [1, wave({ total: 10, succeeded: 8, failed: 1, cancelled: 1 })],
          [2, wave({ total: 30 })],
        ],
        { releasedWave: 1, abortPolicy: { failurePercent: 50, minExecuted: 100 } },
      ),
    );
    expect(decision).toMatchObject({
      kind: 'pause',
      code: 'GATE_FAILED',
      wave: 1,
      nextWave: 2,
      gatePercent: 90,
      successRatePercent: 88.89,
    });
  });

  it('holds the next wave for the soak time after the last job finished', () => {
    const counts: [number, WaveCounts][] = [
      [0, wave({ total: 1, succeeded: 1, lastFinishedMs: NOW - HOUR })],
      [1, wave({ total: 3 })],
    ];
    const waves = [{ successRatePercent: 100, soakHours: 2 }, { successRatePercent: 90 }];
    expect(decideGate(input(counts, { waves }))).toMatchObject({ kind: 'wait' });
    expect(decideGate(input(counts, { waves, nowMs: NOW + HOUR }))).toMatchObject({
      kind: 'release',
      wave: 1,
    });
  });

  it('skips waves without jobs and completes after the last one with jobs', () => {
    expect(
      decideGate(
        input([
          [0, wave({ total: 0 })],
          [2, wave({ total: 5 })],
        ]),
      ),
    ).toMatchObject({ kind: 'release', wave: 2, after: 0, successRatePercent: null });
    expect(
      decideGate(input([[2, wave({ total: 5, succeeded: 4, failed: 1 })]], { releasedWave: 2 })),
    ).toEqual({ kind: 'complete' });
  });

  it('a wave whose jobs were all cancelled passes (nothing ran to judge)', () => {
    expect(
      decideGate(
        input([
          [0, wave({ total: 2, cancelled: 2 })],
          [1, wave({ total: 4 })],
        ]),
      ),
    ).toMatchObject({ kind: 'release', wave: 1 });
  });

  it('pauses with ABORT_THRESHOLD once enough ran and the failure share is reached', () => {
    const below = decideGate(input([[0, wave({ total: 10, succeeded: 2, failed: 1 })]]));
    expect(below.kind).toBe('wait');
    const reached = decideGate(input([[0, wave({ total: 10, succeeded: 2, failed: 2 })]]));
    expect(reached).toMatchObject({
      kind: 'pause',
      code: 'ABORT_THRESHOLD',
      executed: 4,
      failed: 2,
      failurePercent: 50,
    });
  });

  it('counts the abort threshold from the baseline an operator resumed at', () => {
    const counts: [number, WaveCounts][] = [[0, wave({ total: 10, succeeded: 3, failed: 3 })]];
    expect(decideGate(input(counts, { abortBaseline: { executed: 4, failed: 2 } })).kind).toBe('wait');
    expect(decideGate(input(counts, { abortBaseline: { executed: 2, failed: 0 } }))).toMatchObject({
      kind: 'pause',
      code: 'ABORT_THRESHOLD',
      executed: 4,
      failed: 3,
    });
  });

  it('judges a wave the same way for the progress view: open, passed (or none ran), failed', () => {
    expect(waveGate({ total: 3, succeeded: 1, failed: 0, cancelled: 1 }, 90).state).toBe('open');
    expect(waveGate({ total: 2, succeeded: 0, failed: 0, cancelled: 2 }, 90)).toEqual({
      state: 'passed',
      successRatePercent: null,
      ran: 0,
    });
    expect(waveGate({ total: 10, succeeded: 9, failed: 1, cancelled: 0 }, 90).state).toBe('passed');
    expect(waveGate({ total: 10, succeeded: 8, failed: 2, cancelled: 0 }, 90)).toMatchObject({
      state: 'failed',
      successRatePercent: 80,
    });
  });
});
