import { describe, expect, it } from 'vitest';
import { type Blackout, blackoutsForSite, compileBlackouts } from './blackout.js';

const all: Blackout[] = [
  {
    kind: 'local-dates',
    id: 'holiday',
    firstDate: '2026-12-25',
    lastDate: '2026-12-25',
    scope: { level: 'organization' },
  },
  {
    kind: 'interval',
    id: 'hurricane',
    start: '2026-08-28T12:00:00Z',
    end: '2026-09-02T12:00:00Z',
    scope: { level: 'county', county: 'Miami-Dade' },
  },
  {
    kind: 'local-dates',
    id: 'move',
    firstDate: '2026-05-01',
    lastDate: '2026-05-03',
    scope: { level: 'site', siteId: 's1' },
  },
  { kind: 'interval', id: 'unscoped', start: 0, end: 1 },
];

describe('blackoutsForSite', () => {
  it('keeps organization, county (any case) and own-site blackouts', () => {
    expect(blackoutsForSite({ id: 's1', county: 'miami-dade ' }, all).map((b) => b.id)).toEqual([
      'holiday',
      'hurricane',
      'move',
      'unscoped',
    ]);
    expect(blackoutsForSite({ id: 's2', county: 'Broward' }, all).map((b) => b.id)).toEqual([
      'holiday',
      'unscoped',
    ]);
    expect(blackoutsForSite({ id: 's3' }, all).map((b) => b.id)).toEqual(['holiday', 'unscoped']);
  });
});

describe('compileBlackouts', () => {
  it('merges overlapping intervals and adjacent night ranges', () => {
    const compiled = compileBlackouts([
      { kind: 'interval', id: 'a', start: 100, end: 200 },
      { kind: 'interval', id: 'b', start: '1970-01-01T00:00:00.150Z', end: 300 },
      { kind: 'interval', id: 'c', start: 400, end: 500 },
      { kind: 'local-dates', id: 'd', firstDate: '1970-01-05', lastDate: '1970-01-06' },
      { kind: 'local-dates', id: 'e', firstDate: '1970-01-02', lastDate: '1970-01-04' },
      { kind: 'local-dates', id: 'f', firstDate: '1970-01-09', lastDate: '1970-01-09' },
    ]);
    expect(compiled.intervals).toEqual([100, 300, 400, 500]);
    expect(compiled.nights).toEqual([1, 5, 8, 8]);
  });

  it('refuses empty intervals, bad dates and reversed ranges, naming the blackout', () => {
    expect(() => compileBlackouts([{ kind: 'interval', id: 'x', start: 5, end: 5 }])).toThrow(/blackout x/);
    expect(() =>
      compileBlackouts([{ kind: 'local-dates', id: 'y', firstDate: '2026-02-30', lastDate: '2026-03-01' }]),
    ).toThrow(expect.objectContaining({ code: 'INVALID_BLACKOUT' }));
    expect(() =>
      compileBlackouts([{ kind: 'local-dates', id: 'z', firstDate: '2026-03-02', lastDate: '2026-03-01' }]),
    ).toThrow(/lastDate is before/);
    expect(() =>
      compileBlackouts([
        { kind: 'interval', id: 'w', start: '2026-03-01T00:00:00', end: '2026-03-02T00:00:00Z' },
      ]),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INSTANT' }));
  });
});
