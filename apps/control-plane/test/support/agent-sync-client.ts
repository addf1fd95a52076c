/** A real gRPC client for `medfleet.v1.AgentSync`, streaming an inventory snapshot in chunks. */
import * as grpc from '@grpc/grpc-js';
import type { InventoryChunk, UploadReceipt } from '@medfleet/contracts';
import { medfleetServices } from './grpc-client.js';

export function agentSyncClient(address: string) {
  const AgentSync = medfleetServices().AgentSync as new (
    a: string,
    c: grpc.ChannelCredentials,
  ) => grpc.Client;
  const client = new AgentSync(address, grpc.credentials.createInsecure()) as grpc.Client & {
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
