/** A real gRPC client for `medfleet.v1.AgentSync`, streaming an inventory snapshot in chunks. */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_ROOT,
  type InventoryChunk,
  type UploadReceipt,
} from '@medfleet/contracts';

export function agentSyncClient(address: string) {
  const definition = protoLoader.loadSync(
    PROTO_FILES.map((file) => path.join(PROTO_ROOT, file)),
    PROTO_LOADER_OPTIONS,
  );
  const loaded = grpc.loadPackageDefinition(definition) as any;
  const client = new loaded.medfleet.v1.AgentSync(
    address,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & {
    UploadInventory(
      callback: (error: grpc.ServiceError | null, receipt?: UploadReceipt) => void,
    ): grpc.ClientWritableStream<InventoryChunk>;
  };
  return {
    upload(chunks: InventoryChunk[]): Promise<UploadReceipt> {
      return new Promise((resolve, reject) => {
        const call = client.UploadInventory((error, receipt) =>
          error ? reject(error) : resolve(receipt as UploadReceipt),
        );
        for (const chunk of chunks) call.write(chunk);
        call.end();
      });
    },
    close() {
      client.close();
    },
  };
}
