import { describe, expect, it } from 'vitest';
import { canonicalJson } from './audit-hash.util.js';
import { MAX_JSON_CHARS, REDACTED, clipText, storableText, toAuditJson } from './audit-values.util.js';

describe('toAuditJson', () => {
  it('turns entities into plain JSON: dates as ISO strings, undefined and binary dropped', () => {
    expect(
      toAuditJson({
        id: 'x',
        createdAt: new Date('2026-01-02T03:04:05.006Z'),
        missing: undefined,
        blob: Buffer.from('secret bytes'),
        count: 10n,
        list: [1, undefined, new Date(0)],
        nested: { ok: true, nan: Number.NaN },
      }),
    ).toEqual({
      id: 'x',
      createdAt: '2026-01-02T03:04:05.006Z',
      count: '10',
      list: [1, null, '1970-01-01T00:00:00.000Z'],
      nested: { ok: true, nan: null },
    });
    expect(toAuditJson(undefined)).toBeNull();
  });

  it('redacts credentials and their hashes at any depth, keeping ids that merely mention them', () => {
    expect(
      toAuditJson({
        token: 'mfe_abc',
        tokenHash: Buffer.alloc(32),
        keyHash: 'deadbeef',
        password: 'hunter2',
        totpSecret: 'JBSWY3DP',
        nested: { clientSecret: 's', secret_hash: 'h', accessToken: 't' },
        enrollmentTokenId: '5f3c1a2b-8e4d-4c6b-9a7f-1d2e3f4a5b6c',
        maxUses: 3,
        password_reset: null,
      }),
    ).toEqual({
      token: REDACTED,
      tokenHash: REDACTED,
      keyHash: REDACTED,
      password: REDACTED,
      totpSecret: REDACTED,
      nested: { clientSecret: REDACTED, secret_hash: REDACTED, accessToken: REDACTED },
      enrollmentTokenId: '5f3c1a2b-8e4d-4c6b-9a7f-1d2e3f4a5b6c',
      maxUses: 3,
      password_reset: null,
    });
  });

  it('replaces an oversized value by its size and digest', () => {
    const big = toAuditJson({ blob: 'x'.repeat(MAX_JSON_CHARS) });
    expect(big).toMatchObject({ truncated: true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(canonicalJson(big).length).toBeLessThan(200);
  });

  it('bounds depth', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 30; i += 1) deep = { deeper: deep };
    expect(canonicalJson(toAuditJson(deep))).toContain('[too deep]');
  });
});

describe('text PostgreSQL stores unchanged', () => {
  it('drops NUL and replaces lone surrogates', () => {
    expect(storableText(`a${String.fromCharCode(0)}b\uD800c\uDC00`)).toBe('ab\uFFFDc\uFFFD');
    expect(storableText('pair \uD83D\uDE00 kept')).toBe('pair \uD83D\uDE00 kept');
  });

  it('clips without splitting a surrogate pair', () => {
    expect(clipText('ab\uD83D\uDE00', 3)).toBe('ab');
    expect(clipText('', 10)).toBeNull();
    expect(clipText(null, 10)).toBeNull();
  });
});
