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
  type PollEnrollmentRequest,
  type RenewCertificateRequest,
  type RenewCertificateResponse,
} from '@medfleet/contracts';
import type { AgentTls } from './agent-pki.js';

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

/** Plaintext, or TLS trusting `serverCaPem`, with a client certificate when the key and chain are given. */
export function channelCredentials(
  tls?: Partial<AgentTls> & { serverCaPem: string },
): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    Buffer.from(tls.serverCaPem),
    tls.privateKeyPem ? Buffer.from(tls.privateKeyPem) : null,
    tls.certificateChainPem ? Buffer.from(tls.certificateChainPem) : null,
  );
}

const unary =
  <Req, Res>(method: Unary<Req, Res>) =>
  (request: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      method(request, (error, response) => (error ? reject(error) : resolve(response as Res))),
    );

export function enrollmentClient(address: string, tls?: Partial<AgentTls> & { serverCaPem: string }) {
  const Enrollment = medfleetServices().Enrollment as new (
    a: string,
    c: grpc.ChannelCredentials,
  ) => grpc.Client;
  const client = new Enrollment(address, channelCredentials(tls)) as grpc.Client & {
    Enroll: Unary<EnrollRequest, EnrollResponse>;
    PollEnrollment: Unary<PollEnrollmentRequest, EnrollResponse>;
    RenewCertificate: Unary<RenewCertificateRequest, RenewCertificateResponse>;
  };
  return {
    poll(request: Omit<PollEnrollmentRequest, 'protocolVersion'>): Promise<EnrollResponse> {
      return unary(client.PollEnrollment.bind(client))({ protocolVersion: PROTOCOL_VERSION, ...request });
    },
    renew(request: RenewCertificateRequest): Promise<RenewCertificateResponse> {
      return unary(client.RenewCertificate.bind(client))(request);
    },
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
