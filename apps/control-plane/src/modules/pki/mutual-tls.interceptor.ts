/**
 * gRPC server interceptor: the RPCs that need an agent certificate (AgentSync, RenewCertificate) go on only
 * after the client certificate of the connection has been checked, and each request message must name the
 * agent that certificate names. Enrollment itself needs no certificate.
 */
import {
  ServerInterceptingCall,
  ServerListenerBuilder,
  experimental,
  status,
  type ServerCredentials,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { PkiService, CertifiedAgent } from './pki.service.js';
import { CertificateRefusal } from './pki.service.js';

export const MUTUAL_TLS_METHODS: ReadonlySet<string> = new Set([
  '/medfleet.v1.AgentSync/UploadInventory',
  '/medfleet.v1.Enrollment/RenewCertificate',
]);

type Checked = { agent: CertifiedAgent } | { refusal: { code: status; details: string } };

/** The certificate of a call, once checked (the RenewCertificate handler reads it again from here). */
export async function certifiedCaller(
  pki: PkiService,
  call: Pick<ServerInterceptingCallInterface, 'getAuthContext'>,
): Promise<Checked> {
  const der = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!der) {
    return {
      refusal: {
        code: status.UNAUTHENTICATED,
        details:
          'CLIENT_CERTIFICATE_REQUIRED: this call needs mutual TLS with a certificate issued to the agent at enrollment',
      },
    };
  }
  try {
    return { agent: await pki.verifyAgentCertificate(der) };
  } catch (error) {
    if (error instanceof CertificateRefusal) {
      return { refusal: { code: error.grpcStatus, details: error.message } };
    }
    return {
      refusal: { code: status.UNAVAILABLE, details: 'the client certificate could not be checked; retry' },
    };
  }
}

export function mutualTlsInterceptor(pki: PkiService): ServerInterceptor {
  return (method, call) => {
    if (!MUTUAL_TLS_METHODS.has(method.path)) return new ServerInterceptingCall(call);
    const checked = certifiedCaller(pki, call);
    let refused = false;
    const refuse = (code: status, details: string) => {
      if (refused) return;
      refused = true;
      call.sendStatus({ code, details });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next(
          new ServerListenerBuilder()
            .withOnReceiveMetadata((metadata, pass) => {
              void checked.then((result) => {
                if ('refusal' in result) refuse(result.refusal.code, result.refusal.details);
                else pass(metadata);
              });
            })
            .withOnReceiveMessage((message: { agentId?: unknown }, pass) => {
              void checked.then((result) => {
                if (refused) return;
                if ('refusal' in result) return refuse(result.refusal.code, result.refusal.details);
                if (message?.agentId !== result.agent.agentId) {
                  return refuse(
                    status.PERMISSION_DENIED,
                    `CERTIFICATE_MISMATCH: the client certificate is agent ${result.agent.agentId}'s, the request names another agent`,
                  );
                }
                pass(message);
              });
            })
            .build(),
        );
      },
    });
  };
}

/**
 * A certificate provider that always answers the same material. It answers asynchronously, as grpc-js's
 * own file watcher does: the server registers the watcher that applies the material only after asking.
 */
function fixedProvider(update: {
  ca?: Buffer;
  certificate?: Buffer;
  privateKey?: Buffer;
}): experimental.CertificateProvider {
  return {
    addCaCertificateListener: (listener) =>
      setImmediate(() => listener(update.ca ? { caCertificate: update.ca } : null)),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (listener) =>
      setImmediate(() =>
        listener(
          update.certificate && update.privateKey
            ? { certificate: update.certificate, privateKey: update.privateKey }
            : null,
        ),
      ),
    removeIdentityCertificateListener: () => undefined,
  };
}

/**
 * TLS server credentials that ask for a client certificate without requiring one: enrollment works
 * without, and the interceptor refuses the calls that need one. A certificate that does not chain to
 * `clientRootPem` counts as none.
 */
export function tlsServerCredentials(
  tls: { certificatePem: string; privateKeyPem: string; clientRootPem: string },
  interceptors: ServerInterceptor[],
): ServerCredentials {
  const credentials = experimental.createCertificateProviderServerCredentials(
    fixedProvider({
      certificate: Buffer.from(tls.certificatePem),
      privateKey: Buffer.from(tls.privateKeyPem),
    }),
    fixedProvider({ ca: Buffer.from(tls.clientRootPem) }),
    false,
  );
  return experimental.createServerCredentialsWithInterceptors(credentials, interceptors);
}
