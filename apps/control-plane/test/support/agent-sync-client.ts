/** A real gRPC client for `medfleet.v1.AgentSync`, streaming an inventory snapshot in chunks. */
import * as grpc from '@grpc/grpc-js';
import type { InventoryChunk, UploadReceipt } from '@medfleet/contracts';
import { enrolledAgentTls, type AgentTls } from './agent-pki.js';
import { channelCredentials, medfleetServices } from './grpc-client.js';

type SyncClient = grpc.Client & {
  UploadInventory(
    callback: (error: grpc.ServiceError | null, receipt?: UploadReceipt) => void,
  ): grpc.ClientWritableStream<InventoryChunk>;
};

/**
 * AgentSync needs mutual TLS: an upload goes over TLS with the certificate of the agent it names (`tls`,
 * or the one the test support enrolled under that id), else over plaintext to `address`, where it is refused.
 */
export function agentSyncClient(address: string, tls?: AgentTls) {
  const AgentSync = medfleetServices().AgentSync as new (
    a: string,
    c: grpc.ChannelCredentials,
  ) => grpc.Client;
  const clients: grpc.Client[] = [];
  const connect = (agentId: string | undefined): SyncClient => {
    const material = tls ?? (agentId ? enrolledAgentTls.get(agentId) : undefined);
    const client = material
      ? new AgentSync(material.address, channelCredentials(material))
      : new AgentSync(address, grpc.credentials.createInsecure());
    clients.push(client);
    return client as SyncClient;
  };
  return {
    upload(chunks: InventoryChunk[]): Promise<UploadReceipt> {
      const client = connect(chunks[0]?.agentId);
      return new Promise((resolve, reject) => {
        const call = client.UploadInventory((error, receipt) =>
          error ? reject(error) : resolve(receipt as UploadReceipt),
        );
        for (const chunk of chunks) call.write(chunk);
        call.end();
      });
    },
    close() {
      for (const client of clients) client.close();
    },
  };
}
