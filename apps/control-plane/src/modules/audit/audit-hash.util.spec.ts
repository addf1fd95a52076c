import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  GENESIS_HASH,
  canonicalJson,
  checkpointPayload,
  entryDocument,
  entryHash,
  type HashedEntry,
} from './audit-hash.util.js';

const entry: HashedEntry = {
  chainKey: '0b7e3c0e-9d1c-4f55-9a51-3f0e6b1f2a10',
  seq: 7,
  id: '5f3c1a2b-8e4d-4c6b-9a7f-1d2e3f4a5b6c',
  occurredAt: new Date('2026-03-01T14:05:09.123Z'),
  organizationId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  tenantId: '0b7e3c0e-9d1c-4f55-9a51-3f0e6b1f2a10',
  actor: {
    kind: 'api_key',
    id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    display: 'initial',
    credential: null,
  },
  action: 'site.update',
  target: { type: 'site', id: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b' },
  source: { ip: '203.0.113.7', userAgent: 'Mozilla/5.0' },
  before: { name: 'Hialeah', county: 'Miami-Dade' },
  after: { name: 'Hialeah – Palm Ave', county: 'Miami-Dade' },
  details: null,
};

describe('canonicalJson (RFC 8785 for audit values)', () => {
  it('sorts keys at every depth and leaves no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('orders keys by UTF-16 code units, not by locale', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"Z":3,"z":2,"é":1}');
  });

  it('writes numbers and strings in their ECMAScript JSON form', () => {
    expect(canonicalJson([1.0, 0.1, 1e21, -0, 1e-7, 'quote " and \\ and \n', '\u2028'])).toBe(
      '[1,0.1,1e+21,0,1e-7,"quote \\" and \\\\ and \\n","\u2028"]',
    );
  });

  it('refuses non-finite numbers, which JSON cannot carry', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ x: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  });

  it('gives equal documents for equal content whatever the key order', () => {
    expect(canonicalJson({ a: 1, b: [1, 2] })).toBe(canonicalJson({ b: [1, 2], a: 1 }));
  });
});

describe('entry hash', () => {
  it('is SHA-256 over the canonical document, which names every field and the previous hash', () => {
    const document = entryDocument(entry, GENESIS_HASH);
    expect(JSON.parse(document)).toMatchObject({
      v: 1,
      seq: 7,
      occurredAt: '2026-03-01T14:05:09.123Z',
      prevHash: '0'.repeat(64),
      actor: { kind: 'api_key', display: 'initial', credential: null },
    });
    expect(Object.keys(JSON.parse(document))).toEqual([...Object.keys(JSON.parse(document))].sort());
    expect(entryHash(entry, GENESIS_HASH)).toEqual(createHash('sha256').update(document, 'utf8').digest());
  });

  it('is pinned: an offline verifier written from the README computes this value', () => {
    expect(entryHash(entry, GENESIS_HASH).toString('hex')).toBe(
      // Python: sha256(json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False))
      '2505955dab7dfb5fe12df64da19ddb2011249cccb7781b2655276a4a14071523',
    );
  });

  it.each<[string, (e: HashedEntry) => HashedEntry]>([
    ['seq', (e) => ({ ...e, seq: 8 })],
    ['time', (e) => ({ ...e, occurredAt: new Date(e.occurredAt.getTime() + 1) })],
    ['actor', (e) => ({ ...e, actor: { ...e.actor, id: 'someone-else' } })],
    ['after', (e) => ({ ...e, after: { name: 'Forged', county: 'Miami-Dade' } })],
    ['before', (e) => ({ ...e, before: null })],
    ['source', (e) => ({ ...e, source: { ip: '198.51.100.1', userAgent: 'Mozilla/5.0' } })],
    ['tenant', (e) => ({ ...e, tenantId: null })],
  ])('changes when the %s changes', (_field, change) => {
    expect(entryHash(change(entry), GENESIS_HASH).equals(entryHash(entry, GENESIS_HASH))).toBe(false);
  });

  it('chains: the same entry after another previous hash hashes differently', () => {
    const previous = createHash('sha256').update('previous').digest();
    expect(entryHash(entry, previous).equals(entryHash(entry, GENESIS_HASH))).toBe(false);
  });
});

describe('checkpoint payload', () => {
  it('names the chain, seq, hash, time and key, canonically', () => {
    const payload = checkpointPayload({
      chainKey: entry.chainKey,
      seq: 100,
      hash: Buffer.alloc(32, 0xab),
      organizationId: entry.organizationId,
      tenantId: entry.tenantId,
      createdAt: new Date('2026-03-01T15:00:00.000Z'),
      keyId: '0123456789abcdef0123456789abcdef',
    });
    expect(JSON.parse(payload)).toEqual({
      v: 1,
      type: 'medfleet.audit.checkpoint',
      chainKey: entry.chainKey,
      seq: 100,
      hash: 'ab'.repeat(32),
      organizationId: entry.organizationId,
      tenantId: entry.tenantId,
      createdAt: '2026-03-01T15:00:00.000Z',
      keyId: '0123456789abcdef0123456789abcdef',
    });
    expect(payload).toBe(canonicalJson(JSON.parse(payload)));
  });
});
