import { describe, expect, it } from 'vitest';
import {
  MAX_GAP_SEQS,
  decodeEnvelope,
  inventoryEnvelopeSchema,
  parseEnrollmentToken,
  seqGapEnvelopeSchema,
} from './index.js';

const agentId = '7d2a4c1e-5b3f-4a8e-9c61-2f0e8b7d4a10';
const envelope = (patch: Record<string, unknown> = {}) => ({
  v: 1,
  agentId,
  seq: 1,
  sentAt: '2026-11-03T03:15:00Z',
  type: 'inventory.snapshot',
  body: { complete: true, devices: [] },
  ...patch,
});
const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('decodeEnvelope', () => {
  it('accepts a minimal inventory snapshot', () => {
    expect(decodeEnvelope(bytes(envelope()), inventoryEnvelopeSchema)).toMatchObject({ ok: true });
  });

  it('refuses oversized payloads before parsing them', () => {
    const result = decodeEnvelope(Buffer.alloc(2048, 0x20), inventoryEnvelopeSchema, 1024);
    expect(result).toMatchObject({ ok: false, reason: 'PAYLOAD_TOO_LARGE' });
  });

  it.each(['{"v":1,', 'not json', '\u0000\u0001'])('refuses malformed JSON %j', (raw) => {
    expect(decodeEnvelope(bytes(raw), inventoryEnvelopeSchema)).toMatchObject({
      ok: false,
      reason: 'MALFORMED_JSON',
    });
  });

  it('refuses invalid UTF-8', () => {
    const result = decodeEnvelope(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), inventoryEnvelopeSchema);
    expect(result).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' });
  });

  it('names an unknown protocol version and keeps the header for the dead letter', () => {
    expect(decodeEnvelope(bytes(envelope({ v: 2, seq: 9 })), inventoryEnvelopeSchema)).toMatchObject({
      ok: false,
      reason: 'UNSUPPORTED_VERSION',
      agentId,
      seq: 9,
    });
  });

  it.each([
    [{ seq: 0 }, 'seq'],
    [{ seq: 1.5 }, 'seq'],
    [{ agentId: 'agent-1' }, 'agentId'],
    [{ sentAt: 'yesterday' }, 'sentAt'],
    [{ body: { complete: true, devices: [{ mac: 'AA-BB', category: 'pump' }] } }, 'body.devices.0'],
  ])('refuses a wrong schema (%j)', (patch, path) => {
    const result = decodeEnvelope(bytes(envelope(patch)), inventoryEnvelopeSchema);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe('SCHEMA_INVALID');
      expect(result.detail).toContain(path);
    }
  });

  it('refuses a non-object JSON value', () => {
    expect(decodeEnvelope(bytes('[1,2]'), inventoryEnvelopeSchema)).toMatchObject({ ok: false });
  });
});

describe('parseEnrollmentToken', () => {
  it('splits the tenant from the secret', () => {
    const tenantId = '11111111-1111-4111-8111-111111111111';
    const secret = 'abcdefghijklmnopqrstuvwxyzABCDEF0123456789_-';
    expect(parseEnrollmentToken(`mfe_${tenantId}_${secret}`)).toEqual({ tenantId, secret });
  });

  it.each(['', 'mfe_x_y', 'mfe_11111111-1111-4111-8111-111111111111_short', 'bearer abc'])(
    'refuses %j',
    (t) => {
      expect(parseEnrollmentToken(t)).toBeNull();
    },
  );
});

describe('seq gap reports', () => {
  const gap = (ranges: { fromSeq: number; toSeq: number }[]) =>
    bytes({
      v: 1,
      agentId,
      seq: 99,
      sentAt: '2026-11-03T03:15:00Z',
      type: 'agent.seq_gap',
      body: { reason: 'evicted', ranges },
    });

  it('accepts ranges', () => {
    expect(
      decodeEnvelope(
        gap([
          { fromSeq: 3, toSeq: 3 },
          { fromSeq: 5, toSeq: 9 },
        ]),
        seqGapEnvelopeSchema,
      ),
    ).toMatchObject({ ok: true });
  });

  it.each([[[]], [[{ fromSeq: 9, toSeq: 3 }]], [[{ fromSeq: 1, toSeq: MAX_GAP_SEQS + 1 }]]])(
    'refuses %j',
    (ranges) => {
      expect(decodeEnvelope(gap(ranges), seqGapEnvelopeSchema)).toMatchObject({
        ok: false,
        reason: 'SCHEMA_INVALID',
      });
    },
  );
});
