import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  agentConfigSchema,
  canonicalWorkOrder,
  decodeEnvelope,
  defaultMaintenancePolicy,
  jobProgressBodySchema,
  signedWorkOrderSchema,
  signWorkOrder,
  verifyWorkOrderSignature,
  workOrderEnvelopeSchema,
  workOrderKeyOf,
  workOrderSchema,
  type SignedWorkOrder,
  type WorkOrder,
  type WorkOrderKey,
} from './index.js';

/** The control plane's public key the golden work order was signed with (its private half is not kept). */
const GOLDEN_KEY: WorkOrderKey = {
  keyId: 'cp-2026-11',
  algorithm: 'Ed25519',
  publicKey: 'pQqBRKfgVVX5MgWLp_0qAcp4WYKKbc0Oq3t4zbfhVjk',
};

const goldenOrder = (): SignedWorkOrder =>
  (
    JSON.parse(readFileSync(path.join(import.meta.dirname, 'golden', 'work-order.v1.json'), 'utf8')) as {
      body: SignedWorkOrder;
    }
  ).body;

const unsigned = (): WorkOrder => {
  const { signature: _signature, ...order } = goldenOrder();
  return order;
};

const freshKey = (keyId = 'cp-test') => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId, privateKey, trusted: workOrderKeyOf(keyId, publicKey) };
};

describe('work-order signature', () => {
  it('the golden order verifies against the pinned key: canonical bytes and signature are stable', () => {
    expect(verifyWorkOrderSignature(goldenOrder(), [GOLDEN_KEY])).toEqual({ ok: true, keyId: 'cp-2026-11' });
  });

  it('canonical bytes: keys sorted at every level, no whitespace, no signature', () => {
    const text = canonicalWorkOrder(goldenOrder()).toString('utf8');
    expect(text).not.toContain('signature');
    expect(text).not.toMatch(/\s/);
    expect(text.startsWith('{"action":{"artifact":{"download":')).toBe(true);
    expect(text).toContain(
      '"device":{"deviceId":"c4e2a8f6-1b3d-4c5e-9f7a-2d4b6c8e0a13","mac":"00:1a:2b:3c:4d:5e"}',
    );
    // The member order of the input does not matter.
    const shuffled = Object.fromEntries(Object.entries(goldenOrder()).reverse()) as SignedWorkOrder;
    expect(canonicalWorkOrder(shuffled)).toEqual(canonicalWorkOrder(goldenOrder()));
  });

  it('signs and verifies with a fresh key; any changed field breaks the signature', () => {
    const key = freshKey();
    const signed = signWorkOrder(unsigned(), key);
    expect(signedWorkOrderSchema.safeParse(signed).success).toBe(true);
    expect(verifyWorkOrderSignature(signed, [key.trusted])).toEqual({ ok: true, keyId: 'cp-test' });
    const tampered: SignedWorkOrder[] = [
      { ...signed, deadline: '2026-11-04T09:59:59.000Z' },
      { ...signed, attempt: 2 },
      { ...signed, device: { mac: '00:1a:2b:3c:4d:5f' } },
      { ...signed, agentId: '00000000-0000-4000-8000-000000000000' },
    ];
    for (const order of tampered) {
      expect(verifyWorkOrderSignature(order, [key.trusted])).toEqual({ ok: false, reason: 'BAD_SIGNATURE' });
    }
  });

  it('an unknown key id is UNKNOWN_KEY; a known id with another key is BAD_SIGNATURE', () => {
    const signer = freshKey('cp-a');
    const other = freshKey('cp-a');
    const signed = signWorkOrder(unsigned(), signer);
    expect(verifyWorkOrderSignature(signed, [])).toEqual({ ok: false, reason: 'UNKNOWN_KEY' });
    expect(verifyWorkOrderSignature(signed, [freshKey('cp-b').trusted])).toEqual({
      ok: false,
      reason: 'UNKNOWN_KEY',
    });
    expect(verifyWorkOrderSignature(signed, [other.trusted])).toEqual({ ok: false, reason: 'BAD_SIGNATURE' });
    // During a rotation the agent holds both keys and picks by id.
    expect(verifyWorkOrderSignature(signed, [freshKey('cp-b').trusted, signer.trusted]).ok).toBe(true);
  });

  it('refuses a key that is not Ed25519', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => workOrderKeyOf('ec', publicKey)).toThrow(/Ed25519/);
  });
});

describe('work-order schema', () => {
  const issues = (patch: Record<string, unknown>) => {
    const result = workOrderSchema.safeParse({ ...unsigned(), ...patch });
    return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.') || '(root)');
  };

  it.each([
    [{ deadline: '2026-11-04T10:00:01.000Z' }, 'deadline'],
    [{ deadline: '2026-11-04T03:00:00.000Z' }, 'deadline'],
    [{ issuedAt: '2026-11-04T10:00:00.000Z' }, 'issuedAt'],
    [{ deadline: '2026-11-04T05:00:00-05:00' }, 'deadline'],
    [{ device: {} }, 'device'],
    [{ device: { mac: '00-1A-2B-3C-4D-5E' } }, 'device.mac'],
    [{ attempt: 0 }, 'attempt'],
    [{ action: { kind: 'reboot' } }, 'action.kind'],
    [{ action: { kind: 'manual_procedure', title: 'Swap battery', steps: [] } }, 'action.steps'],
    [
      {
        window: {
          ...unsigned().window,
          startLocal: '2026-11-03T22:00:00-04:00',
        },
      },
      'window',
    ],
    [{ window: { ...unsigned().window, timeZone: 'EST5' } }, 'window.timeZone'],
  ])('refuses %j (at %s)', (patch, where) => {
    expect(issues(patch)).toContain(where);
  });

  it('accepts a manual procedure identified by device id only', () => {
    expect(
      issues({
        device: { deviceId: 'c4e2a8f6-1b3d-4c5e-9f7a-2d4b6c8e0a13' },
        action: { kind: 'manual_procedure', title: 'Swap battery', steps: ['Swap it', 'Self-test'] },
      }),
    ).toEqual([]);
  });

  it('a work order envelope with an added field is refused: v1 is closed', () => {
    const raw = JSON.parse(
      readFileSync(path.join(import.meta.dirname, 'golden', 'work-order.v1.json'), 'utf8'),
    );
    raw.body.priority = 'high';
    const result = decodeEnvelope(Buffer.from(JSON.stringify(raw)), workOrderEnvelopeSchema);
    expect(result).toMatchObject({ ok: false, reason: 'SCHEMA_INVALID', seq: 17 });
  });
});

describe('job progress', () => {
  const base = {
    jobId: '3f6b2d1a-8c4e-4f7a-9b2d-1e5c7a9f0b34',
    campaignId: 'a1c9e7f3-2b4d-4e6f-8a0c-5d7b9e1f3a25',
    attempt: 1,
    at: '2026-11-04T03:00:00.000Z',
  };
  it.each([
    { ...base, state: 'running', step: 'flash', percent: 10 },
    { ...base, state: 'running', step: 'apply', percent: 101 },
    { ...base, state: 'deferred', reason: 'FIRMWARE_NOT_UPDATED', detail: 'x' },
    { ...base, state: 'failed', reason: 'IN_CLINICAL_USE', detail: 'x' },
    { ...base, state: 'refused', reason: 'OUTSIDE_WINDOW' },
    { ...base, state: 'waiting_manual', title: 'x', checklist: [] },
    { ...base, state: 'cancelled' },
  ])('refuses %j', (body) => {
    expect(jobProgressBodySchema.safeParse(body).success).toBe(false);
  });

  it('a refusal may lack campaign and attempt (an order too broken to read them)', () => {
    const body = { jobId: base.jobId, at: base.at, state: 'refused', reason: 'SCHEMA_INVALID', detail: 'x' };
    expect(jobProgressBodySchema.safeParse(body).success).toBe(true);
  });
});

describe('work-order keys in the agent config', () => {
  const config = (workOrderKeys?: unknown) => ({
    version: 2,
    inventoryIntervalSec: 300,
    healthIntervalSec: 60,
    collectors: {},
    maintenance: defaultMaintenancePolicy('America/New_York'),
    ...(workOrderKeys === undefined ? {} : { workOrderKeys }),
  });
  it('are optional, and checked when present', () => {
    expect(agentConfigSchema.safeParse(config()).success).toBe(true);
    expect(agentConfigSchema.safeParse(config([GOLDEN_KEY])).success).toBe(true);
    expect(agentConfigSchema.safeParse(config([{ ...GOLDEN_KEY, publicKey: 'short' }])).success).toBe(false);
    expect(agentConfigSchema.safeParse(config([{ ...GOLDEN_KEY, algorithm: 'RSA' }])).success).toBe(false);
    expect(agentConfigSchema.safeParse(config([{ ...GOLDEN_KEY, keyId: 'has space' }])).success).toBe(false);
  });
});
