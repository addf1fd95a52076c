/** A gRPC server implementing `medfleet.v1.Enrollment` from the contract's .proto files: the control plane's stand-in. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_PACKAGE,
  type EnrollRequest,
  type EnrollResponse,
} from '@medfleet/contracts';

export type EnrollHandler = (
  request: EnrollRequest,
) => EnrollResponse | grpc.ServiceError | Partial<grpc.StatusObject>;

export interface EnrollmentServer {
  address: string;
  requests: EnrollRequest[];
  close(): Promise<void>;
}

export async function startEnrollmentServer(handler: EnrollHandler): Promise<EnrollmentServer> {
  const definition = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
  const service = definition[`${PROTO_PACKAGE}.Enrollment`] as grpc.ServiceDefinition;
  const requests: EnrollRequest[] = [];
  const server = new grpc.Server();
  server.addService(service, {
    Enroll: (
      call: grpc.ServerUnaryCall<EnrollRequest, EnrollResponse>,
      callback: grpc.sendUnaryData<EnrollResponse>,
    ) => {
      requests.push(call.request);
      const answer = handler(call.request);
      if ('code' in answer) callback(answer);
      else callback(null, answer as EnrollResponse);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('localhost:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    // A name, not an IP: TLS clients send it as SNI, and Node warns about an IP there.
    address: `localhost:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
