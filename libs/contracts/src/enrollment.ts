/** The gRPC services of protocol v1 as TypeScript shapes (proto-loader with camelCase field names). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory holding `medfleet/v1/*.proto`, valid from the sources and from the build output alike. */
export const PROTO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto');
export const PROTO_PACKAGE = 'medfleet.v1';
export const PROTO_FILES = ['medfleet/v1/enrollment.proto', 'medfleet/v1/agent_sync.proto'] as const;

/** proto-loader options both sides must use, so field names and defaults agree. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export interface AgentFacts {
  hostname: string;
  agentVersion: string;
  os: string;
  arch: string;
  serial: string;
  macAddresses: string[];
}

export interface EnrollRequest {
  token: string;
  csrPem: string;
  facts: AgentFacts;
  protocolVersion: number;
}

export interface MqttCredentials {
  url: string;
  clientId: string;
  username: string;
  password: string;
  topicPrefix: string;
  /** MQTT protocol level: 5, or 4 (3.1.1) for brokers without MQTT 5 (the embedded Aedes). */
  protocolVersion: 4 | 5;
}

export interface AgentConfig {
  inventoryIntervalSec: number;
  healthIntervalSec: number;
}

export interface EnrollResponse {
  agentId: string;
  organizationId: string;
  tenantId: string;
  siteId: string;
  certificatePem: string;
  caChainPem: string[];
  mqtt: MqttCredentials;
  config: AgentConfig;
  siteTimeZone: string;
  /** 'approved' (the identity is complete) or 'pending' (wait for a technician; poll). Empty means approved. */
  approvalState?: EnrollmentApprovalState | '';
  /** While pending: the secret proving, on each poll, that the caller is the agent that enrolled. */
  pollSecret?: string;
  /** While pending: seconds to wait before the next poll. */
  pollAfterSec?: number;
  /** `host:port` of the TLS gRPC endpoint (mutual TLS with the agent's certificate). */
  grpcTlsAddress?: string;
  /** PEM CA certificate of that endpoint, when the control plane issued its certificate itself. */
  grpcServerCaPem?: string;
}

export type EnrollmentApprovalState = 'approved' | 'pending';

export interface PollEnrollmentRequest {
  agentId: string;
  tenantId: string;
  pollSecret: string;
  protocolVersion: number;
}

export interface RenewCertificateRequest {
  agentId: string;
  csrPem: string;
}

export interface RenewCertificateResponse {
  certificatePem: string;
  caChainPem: string[];
}

/**
 * Names inside an agent certificate's subjectAltName (URIs), read by the control plane to know who is
 * calling over mutual TLS.
 */
export const AGENT_CERT_URI = {
  agent: 'urn:medfleet:agent:',
  tenant: 'urn:medfleet:tenant:',
  organization: 'urn:medfleet:organization:',
} as const;

export interface InventoryChunk {
  agentId: string;
  agentSecret: string;
  seq: number;
  chunkIndex: number;
  last: boolean;
  devicesJson: Uint8Array;
  sentAt: string;
}

export interface UploadReceipt {
  seq: number;
  devicesAccepted: number;
  duplicate: boolean;
  ackedSeq: number;
}

/** Enrollment token format: `mfe_<tenantId>_<secret>`; the tenant part lets the lookup run tenant-scoped. */
export const ENROLLMENT_TOKEN_PATTERN =
  /^mfe_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{32,64})$/;

export function parseEnrollmentToken(token: string): { tenantId: string; secret: string } | null {
  const match = ENROLLMENT_TOKEN_PATTERN.exec(token);
  return match ? { tenantId: match[1] as string, secret: match[2] as string } : null;
}
