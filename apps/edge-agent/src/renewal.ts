/**
 * Certificate renewal: once less than a third of the agent certificate's lifetime is left, the agent makes
 * a new key pair and asks for a certificate over mutual TLS with the current one. The new key is written
 * beside the old one first and takes its place only once the identity holds the certificate for it, so a
 * crash at any point leaves a key that matches the stored certificate.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RenewCertificateRequest, RenewCertificateResponse } from '@medfleet/contracts';
import { AgentException } from './agent.exception.js';
import type { Logger } from './logger.js';
import {
  certificateMatchesKey,
  certificateTimes,
  createCsrPem,
  generatePrivateKeyPem,
  renewalDue,
  renewalTime,
} from './pki.js';
import {
  KEY_FILE,
  NEXT_KEY_FILE,
  loadIdentity,
  readPrivateKey,
  saveIdentity,
  savePrivateKey,
  type AgentIdentity,
} from './state.js';

export interface RenewalOutcome {
  renewed: boolean;
  /** When the (current or new) certificate is due for renewal; absent without a certificate. */
  dueAt?: Date;
  notAfter?: Date;
}

/** Finishes or undoes a renewal a crash interrupted. */
export async function reconcileKeys(stateDir: string, identity: AgentIdentity): Promise<void> {
  const next = await readPrivateKey(stateDir, NEXT_KEY_FILE);
  if (next === undefined) return;
  if (identity.certificatePem && certificateMatchesKey(identity.certificatePem, next)) {
    await fs.rename(path.join(stateDir, NEXT_KEY_FILE), path.join(stateDir, KEY_FILE));
  } else {
    await fs.rm(path.join(stateDir, NEXT_KEY_FILE), { force: true });
  }
}

export async function renewCertificateIfDue(
  stateDir: string,
  options: { force?: boolean; now?: Date } = {},
): Promise<RenewalOutcome> {
  let identity = await loadIdentity(stateDir);
  await reconcileKeys(stateDir, identity);
  if (!identity.certificatePem) return { renewed: false };
  const times = certificateTimes(identity.certificatePem);
  if (!options.force && !renewalDue(times, options.now ?? new Date())) {
    return { renewed: false, dueAt: renewalTime(times), notAfter: times.notAfter };
  }
  if (!identity.grpcTlsAddress) {
    throw new AgentException(
      'ENROLLMENT_FAILED',
      'the identity names no TLS endpoint to renew the certificate at; enroll again',
    );
  }
  const currentKey = await readPrivateKey(stateDir);
  if (!currentKey || !certificateMatchesKey(identity.certificatePem, currentKey)) {
    throw new AgentException(
      'STATE_INVALID',
      `${path.join(stateDir, KEY_FILE)} is missing or does not match the certificate; enroll again`,
    );
  }
  const nextKey = generatePrivateKeyPem();
  await savePrivateKey(stateDir, nextKey, NEXT_KEY_FILE);
  // Loaded only now: a running agent keeps gRPC out of its memory until a renewal is due.
  const { callUnary } = await import('./enroll.js');
  const trustedCaPem = identity.grpcServerCaPem || identity.trustedCaPem;
  const answer = await callUnary<RenewCertificateRequest, RenewCertificateResponse>(
    {
      server: identity.grpcTlsAddress,
      insecure: false,
      ...(trustedCaPem ? { trustedCaPem } : {}),
      clientKeyPem: currentKey,
      clientCertificateChainPem: `${identity.certificatePem}${identity.caChainPem[0] ?? ''}`,
    },
    'RenewCertificate',
    { agentId: identity.agentId, csrPem: createCsrPem(nextKey, `medfleet-agent ${identity.agentId}`) },
  );
  if (!answer.certificatePem || !certificateMatchesKey(answer.certificatePem, nextKey)) {
    await fs.rm(path.join(stateDir, NEXT_KEY_FILE), { force: true });
    throw new AgentException('ENROLLMENT_FAILED', 'the renewed certificate is not for the new key');
  }
  identity = { ...identity, certificatePem: answer.certificatePem, caChainPem: answer.caChainPem };
  await saveIdentity(stateDir, identity);
  await reconcileKeys(stateDir, identity);
  const renewed = certificateTimes(answer.certificatePem);
  return { renewed: true, dueAt: renewalTime(renewed), notAfter: renewed.notAfter };
}

/**
 * Checks now and then whether the certificate is due, and renews it; a failed attempt is logged and
 * retried within minutes, long before the certificate actually expires.
 */
export function startCertificateRenewal(options: { stateDir: string; logger: Logger; retryMs?: number }): {
  stop(): void;
} {
  const retryMs = options.retryMs ?? 5 * 60_000;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = (ms: number) => {
    if (stopped) return;
    // At least a second apart, at most an hour: the certificate may be renewed from elsewhere too.
    timer = setTimeout(check, Math.min(Math.max(ms, 1000), 3_600_000));
    timer.unref();
  };
  const check = () => {
    renewCertificateIfDue(options.stateDir).then(
      (outcome) => {
        if (outcome.renewed) {
          options.logger.info({ notAfter: outcome.notAfter?.toISOString() }, 'agent certificate renewed');
        }
        schedule(outcome.dueAt ? outcome.dueAt.getTime() - Date.now() : 3_600_000);
      },
      (error: unknown) => {
        options.logger.warn({ err: error }, 'agent certificate renewal failed; will retry');
        schedule(retryMs);
      },
    );
  };
  check();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
