/**
 * Device-facing: `medfleet.v1.AgentSync/UploadInventory`, for snapshots too large for one MQTT message.
 * The chunks are gathered (bounded), validated against the same device schema as the MQTT stream, and
 * committed through the same idempotent path under the seq the agent reserved for the snapshot.
 */
import { Controller } from '@nestjs/common';
import { GrpcStreamCall, RpcException } from '@nestjs/microservices';
import { status, type ServerReadableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  deviceReportSchema,
  type DeviceReport,
  type InventoryChunk,
  type UploadReceipt,
} from '@medfleet/contracts';
import { z } from 'zod';
import { AgentCredentialsService } from '../agents/agent-credentials.service.js';
import { IngestService } from './ingest.service.js';

export const UPLOAD_LIMITS = { chunks: 256, bytes: 16 * 1024 * 1024, devices: 50_000 } as const;
const chunkDevices = z.array(deviceReportSchema).max(UPLOAD_LIMITS.devices);

const fail = (code: status, message: string) => new RpcException({ code, message });

@Controller()
export class AgentSyncGrpcController {
  constructor(
    private readonly ingest: IngestService,
    private readonly credentials: AgentCredentialsService,
  ) {}

  /** Uses the raw call: the stream's end must be seen even when no chunk marked last arrived. */
  @GrpcStreamCall('AgentSync', 'UploadInventory')
  uploadInventory(
    call: ServerReadableStream<InventoryChunk, UploadReceipt>,
    callback: sendUnaryData<UploadReceipt>,
  ): void {
    this.receive(call).then(
      (receipt) => callback(null, receipt),
      (error: unknown) => {
        const rpc =
          error instanceof RpcException ? (error.getError() as { code: status; message: string }) : null;
        callback({ code: rpc?.code ?? status.INTERNAL, details: rpc?.message ?? 'upload failed' }, null);
      },
    );
  }

  private async receive(call: ServerReadableStream<InventoryChunk, UploadReceipt>): Promise<UploadReceipt> {
    const upload = await gather(call);
    const address = await this.credentials.verify(upload.agentId, upload.agentSecret);
    if (!address) throw fail(status.UNAUTHENTICATED, 'UNKNOWN_AGENT: agent id or secret not recognised');

    const devices: DeviceReport[] = [];
    let problem: string | null = null;
    for (const [index, part] of upload.parts.entries()) {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(part));
      } catch {
        problem = `chunk ${index}: devicesJson is not valid UTF-8 JSON`;
        break;
      }
      const parsed = chunkDevices.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        problem = `chunk ${index}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`;
        break;
      }
      devices.push(...parsed.data);
    }
    if (!problem && devices.length > UPLOAD_LIMITS.devices)
      problem = `more than ${UPLOAD_LIMITS.devices} devices`;

    const topic = `grpc:AgentSync/UploadInventory/${address.agentId}`;
    const content = problem
      ? { reason: 'SCHEMA_INVALID' as const, detail: problem }
      : {
          v: PROTOCOL_VERSION,
          agentId: address.agentId,
          seq: upload.seq,
          sentAt: upload.sentAt,
          type: MESSAGE_TYPES.inventory,
          body: { complete: true, devices },
        };
    const outcome = await this.ingest.commit(
      address,
      'inventory',
      upload.seq,
      content,
      topic,
      upload.parts[0] ?? new Uint8Array(),
    );
    if (outcome.status === 'failed')
      throw fail(status.UNAVAILABLE, 'the snapshot could not be committed; retry');
    if (outcome.status === 'dead_lettered') {
      throw fail(status.INVALID_ARGUMENT, `${outcome.reason}: ${problem ?? 'refused'}`);
    }
    return {
      seq: upload.seq,
      devicesAccepted: outcome.status === 'applied' ? new Set(devices.map((d) => d.mac)).size : 0,
      duplicate: outcome.status === 'replayed',
      ackedSeq: outcome.ackedSeq,
    };
  }
}

interface Upload {
  agentId: string;
  agentSecret: string;
  seq: number;
  sentAt: string;
  parts: Uint8Array[];
}

/** Collects the chunks of one upload, refusing inconsistent or oversized streams as they arrive. */
function gather(call: ServerReadableStream<InventoryChunk, UploadReceipt>): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let upload: Upload | null = null;
    let bytes = 0;
    let finished = false;
    const settle = (outcome: () => void) => {
      if (finished) return;
      finished = true;
      call.removeAllListeners('data');
      outcome();
    };
    const refuse = (code: status, message: string) => settle(() => reject(fail(code, message)));
    call.on('data', (chunk: InventoryChunk) => {
      if (!upload) {
        if (!Number.isSafeInteger(chunk.seq) || chunk.seq < 1) {
          return refuse(status.INVALID_ARGUMENT, 'seq must be a positive integer');
        }
        if (Number.isNaN(Date.parse(chunk.sentAt)))
          return refuse(status.INVALID_ARGUMENT, 'sentAt must be a date-time');
        upload = {
          agentId: chunk.agentId,
          agentSecret: chunk.agentSecret,
          seq: chunk.seq,
          sentAt: chunk.sentAt,
          parts: [],
        };
      }
      if (
        chunk.agentId !== upload.agentId ||
        chunk.seq !== upload.seq ||
        chunk.agentSecret !== upload.agentSecret
      ) {
        return refuse(status.INVALID_ARGUMENT, 'every chunk of an upload must carry the same agent and seq');
      }
      if (chunk.chunkIndex !== upload.parts.length) {
        return refuse(
          status.INVALID_ARGUMENT,
          `expected chunk ${upload.parts.length}, got ${chunk.chunkIndex}`,
        );
      }
      bytes += chunk.devicesJson.byteLength;
      if (upload.parts.length >= UPLOAD_LIMITS.chunks || bytes > UPLOAD_LIMITS.bytes) {
        return refuse(
          status.RESOURCE_EXHAUSTED,
          `an upload is limited to ${UPLOAD_LIMITS.chunks} chunks and ${UPLOAD_LIMITS.bytes} bytes`,
        );
      }
      upload.parts.push(chunk.devicesJson);
      if (chunk.last) {
        const complete = upload;
        settle(() => resolve(complete));
      }
    });
    call.on('end', () => refuse(status.INVALID_ARGUMENT, 'the stream ended before a chunk marked last'));
    call.on('error', (error) => refuse(status.CANCELLED, `upload stream failed: ${String(error)}`));
  });
}
