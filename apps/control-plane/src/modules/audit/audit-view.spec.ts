import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, CSV_HEADER, csvCell, csvRow, type AuditEntryView } from './audit-view.js';

describe('CSV export', () => {
  it('quotes what RFC 4180 needs quoted', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\r\nlines')).toBe('"two\r\nlines"');
    expect(csvCell(' padded ')).toBe('" padded "');
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
  });

  it('keeps a spreadsheet from running a cell as a formula', () => {
    for (const value of ['=HYPERLINK("http://evil")', '+1', '-2+3', '@SUM(A1)', '\tx']) {
      expect(csvCell(value).replace(/^"/, '').startsWith("'")).toBe(true);
    }
  });

  it('writes one row per entry, in the header’s column order', () => {
    const view: AuditEntryView = {
      id: 'id-1',
      chainKey: 'chain',
      seq: 3,
      occurredAt: '2026-01-01T00:00:00.000Z',
      organizationId: 'org',
      tenantId: null,
      actor: { kind: 'system', id: null, display: 'purge-audit, nightly', credential: null },
      action: 'audit.purge',
      target: null,
      source: { ip: null, userAgent: null },
      before: null,
      after: null,
      details: { throughSeq: 2 },
      hashVersion: 1,
      prevHash: 'aa',
      hash: 'bb',
    };
    expect(CSV_HEADER.split(',')).toHaveLength(CSV_COLUMNS.length);
    expect(csvRow(view)).toBe(
      'id-1,chain,3,2026-01-01T00:00:00.000Z,org,,system,,"purge-audit, nightly",,audit.purge,,,,,,,"{""throughSeq"":2}",1,aa,bb\r\n',
    );
  });
});
