/** A real gRPC client for `medfleet.v1.Enrollment`, as an agent uses it. */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  PROTOCOL_VERSION,
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_ROOT,
  type EnrollRequest,
  type EnrollResponse,
} from '@medfleet/contracts';

type Unary<Req, Res> = (
  request: Req,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => void;

/** The `medfleet.v1` service constructors, loaded from the contract's .proto files as agents load them. */
export function medfleetServices(): Record<
  string,
  new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client
> {
  const definition = protoLoader.loadSync(
    PROTO_FILES.map((file) => path.join(PROTO_ROOT, file)),
    PROTO_LOADER_OPTIONS,
  );
  return (grpc.loadPackageDefinition(definition) as any).medfleet.v1;
}

export function enrollmentClient(address: string) {
  const Enrollment = medfleetServices().Enrollment as new (
    a: string,
    c: grpc.ChannelCredentials,
  ) => grpc.Client;
  const client = new Enrollment(address, grpc.credentials.createInsecure()) as grpc.Client & {
    Enroll: Unary<EnrollRequest, EnrollResponse>;
  };
  return {
    enroll(request: Partial<EnrollRequest> & { token: string }): Promise<EnrollResponse> {
      return new Promise((resolve, reject) =>
        client.Enroll(
          {
            csrPem: '',
            protocolVersion: PROTOCOL_VERSION,
            facts: {
              hostname: 'test-agent',
              agentVersion: '0.0.0-test',
              os: 'linux',
              arch: 'x64',
              serial: 'TEST-SERIAL',
              macAddresses: ['02:00:00:00:00:01'],
            },
            ...request,
          },
          (error, response) => (error ? reject(error) : resolve(response as EnrollResponse)),
        ),
      );
    },
    close() {
      client.close();
    },
  };
}
