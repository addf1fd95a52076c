// Golden messages pin the v1 wire format: a change here is a protocol change and needs a new version.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  PROTO_FILES,
  PROTO_ROOT,
  ackEnvelopeSchema,
  configEnvelopeSchema,
  decodeEnvelope,
  encodeEnvelope,
  healthEnvelopeSchema,
  eventEnvelopeSchema,
  inventoryEnvelopeSchema,
  jobProgressEnvelopeSchema,
  seqGapEnvelopeSchema,
  workOrderEnvelopeSchema,
  uplinkEnvelopeSchema,
  type Envelope,
} from './index.js';

const golden = (name: string): Buffer => readFileSync(path.join(import.meta.dirname, 'golden', name));

describe('golden v1 messages', () => {
  it.each([
    ['inventory.v1.json', inventoryEnvelopeSchema],
    ['health.v1.json', healthEnvelopeSchema],
    ['ack.v1.json', ackEnvelopeSchema],
    ['seq-gap.v1.json', seqGapEnvelopeSchema],
    ['agent-recovered.v1.json', eventEnvelopeSchema],
    ['health-full.v1.json', healthEnvelopeSchema],
    ['ack-timed.v1.json', ackEnvelopeSchema],
    ['config.v1.json', configEnvelopeSchema],
    ['config-applied.v1.json', eventEnvelopeSchema],
    ['config-rejected.v1.json', eventEnvelopeSchema],
    ['work-order.v1.json', workOrderEnvelopeSchema],
    ['job-progress-accepted.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-running.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-waiting-manual.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-deferred.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-succeeded.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-failed.v1.json', jobProgressEnvelopeSchema],
    ['job-progress-refused.v1.json', jobProgressEnvelopeSchema],
  ] as const)('%s decodes and re-encodes to the same JSON', (file, schema) => {
    const raw = golden(file);
    const decoded = decodeEnvelope(raw, schema);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(JSON.parse(encodeEnvelope(decoded.message as Envelope).toString())).toEqual(
      JSON.parse(raw.toString()),
    );
  });

  it('the uplink union dispatches on type', () => {
    const inv = decodeEnvelope(golden('inventory.v1.json'), uplinkEnvelopeSchema);
    const health = decodeEnvelope(golden('health.v1.json'), uplinkEnvelopeSchema);
    expect(inv.ok && inv.message.type).toBe('inventory.snapshot');
    expect(health.ok && health.message.type).toBe('health.report');
  });

  it('an added field is refused: v1 is closed', () => {
    const json = JSON.parse(golden('inventory.v1.json').toString());
    json.body.devices[0].patientName = 'DOE^JANE';
    const result = decodeEnvelope(Buffer.from(JSON.stringify(json)), inventoryEnvelopeSchema);
    expect(result).toMatchObject({ ok: false, reason: 'SCHEMA_INVALID', seq: 42 });
  });
});

describe('golden v1 proto descriptor', () => {
  it('field numbers, types and rpc shapes match the pinned descriptor', () => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
    root.loadSync([...PROTO_FILES], { keepCase: false });
    root.resolveAll();
    const actual: Record<string, Record<string, string>> = {};
    const visit = (ns: protobuf.NamespaceBase): void => {
      for (const nested of ns.nestedArray) {
        if (nested instanceof protobuf.Type) {
          actual[nested.fullName.slice(1)] = Object.fromEntries(
            nested.fieldsArray.map((f) => [f.name, `${f.id}:${f.repeated ? 'repeated ' : ''}${f.type}`]),
          );
        } else if (nested instanceof protobuf.Service) {
          actual[nested.fullName.slice(1)] = Object.fromEntries(
            nested.methodsArray.map((m) => [
              m.name,
              `${m.requestStream ? 'stream ' : ''}${m.requestType} -> ${m.responseStream ? 'stream ' : ''}${m.responseType}`,
            ]),
          );
        } else if (nested instanceof protobuf.Namespace) {
          visit(nested);
        }
      }
    };
    visit(root);
    expect(actual).toEqual(JSON.parse(golden('proto-descriptor.v1.json').toString()));
  });
});
