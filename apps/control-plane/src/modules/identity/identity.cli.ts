/**
 * `medfleet-control-plane create-user | configure-oidc`: the operator's way in before anyone can sign in
 * (the first MSP administrator of an organization, its single sign-on). Input is validated by the same
 * rules as the API; secrets never come from the command line (shell history, process lists).
 */
import { randomBytes } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { Logger } from 'pino';
import { AppException } from '../../common/errors/app-exception.js';
import type { AppConfig } from '../../config/app-config.js';
import { startControlPlane } from '../../control-plane.js';
import { PutOidcConnectionDto } from './oidc-connection.dto.js';
import { OidcConnectionService } from './oidc-connection.service.js';
import { CreateUserDto } from './user.dto.js';
import { UserService } from './user.service.js';

export const IDENTITY_COMMANDS = ['create-user', 'configure-oidc'] as const;
export type IdentityCommand = (typeof IDENTITY_COMMANDS)[number];

export const IDENTITY_USAGE = `  create-user --org SLUG --email E --name N --role R [--tenant ID] [--password-stdin]
                                          add a user (the first msp_admin of an organization); without
                                          --password-stdin a random password is printed once
  configure-oidc --org SLUG --issuer URL --client-id ID --allowed-domain D [--allowed-domain D2 …]
                 [--new-user-role R [--tenant ID]] [--mfa-amr V …] [--disable]
                                          set the organization's OpenID Connect sign-in; the client
                                          secret is read from MEDFLEET_OIDC_CLIENT_SECRET
  The identity commands open the database themselves; on the embedded database, stop the server first.`;

/** The command-line options these commands read (declared with main's parser). */
export const IDENTITY_OPTIONS = {
  org: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'allowed-domain': { type: 'string', multiple: true },
  'new-user-role': { type: 'string' },
  'mfa-amr': { type: 'string', multiple: true },
  disable: { type: 'boolean' },
} as const;

export interface IdentityCommandValues {
  org?: string;
  email?: string;
  name?: string;
  role?: string;
  tenant?: string;
  'password-stdin'?: boolean;
  issuer?: string;
  'client-id'?: string;
  'allowed-domain'?: string[];
  'new-user-role'?: string;
  'mfa-amr'?: string[];
  disable?: boolean;
}

export function isIdentityCommand(command: string): command is IdentityCommand {
  return (IDENTITY_COMMANDS as readonly string[]).includes(command);
}

/** Runs the command against a started control plane (no listener); answers the exit code. */
export async function runIdentityCommand(
  command: IdentityCommand,
  config: AppConfig,
  logger: Logger,
  values: IdentityCommandValues,
  io: {
    stdin: NodeJS.ReadableStream;
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  } = process,
): Promise<number> {
  if (!values.org) {
    io.stderr.write(`${command} needs --org (the organization's slug)\n`);
    return 64;
  }
  let input: object;
  let generatedPassword: string | null = null;
  if (command === 'create-user') {
    const password = values['password-stdin'] ? (await readAll(io.stdin)).replace(/\r?\n$/, '') : undefined;
    if (password === undefined) generatedPassword = `${randomBytes(18).toString('base64url')}-Mf1`;
    input = plainToInstance(CreateUserDto, {
      email: values.email,
      displayName: values.name,
      role: values.role,
      ...(values.tenant ? { tenantId: values.tenant } : {}),
      password: password ?? generatedPassword,
    });
  } else {
    const clientSecret = process.env.MEDFLEET_OIDC_CLIENT_SECRET;
    input = plainToInstance(PutOidcConnectionDto, {
      issuer: values.issuer,
      clientId: values['client-id'],
      ...(clientSecret ? { clientSecret } : {}),
      allowedEmailDomains: values['allowed-domain'] ?? [],
      newUserRole: values['new-user-role'] ?? null,
      newUserTenantId: values.tenant ?? null,
      ...(values['mfa-amr'] ? { mfaAmrValues: values['mfa-amr'] } : {}),
      enabled: !values.disable,
    });
  }
  const problems = await validate(input, { whitelist: true, forbidNonWhitelisted: true });
  if (problems.length > 0) {
    for (const problem of problems) {
      io.stderr.write(`${problem.property}: ${Object.values(problem.constraints ?? {}).join('; ')}\n`);
    }
    return 64;
  }
  const running = await startControlPlane(
    { ...config, PORT: 0, GRPC_PORT: 0 },
    logger.child({}, { level: 'warn' }),
  );
  try {
    if (command === 'create-user') {
      const user = await running.app.get(UserService).createByOperator(values.org, input as CreateUserDto);
      io.stdout.write(`user ${user.id} ${user.email} (${user.role})\n`);
      if (generatedPassword) io.stdout.write(`password (shown once): ${generatedPassword}\n`);
      if (['msp_admin', 'msp_technician', 'auditor'].includes(user.role)) {
        io.stdout.write('The first sign-in enrolls a TOTP authenticator (mandatory for MSP roles).\n');
      }
    } else {
      const connection = await running.app
        .get(OidcConnectionService)
        .putByOperator(values.org, input as PutOidcConnectionDto);
      io.stdout.write(
        `OpenID Connect ${connection.enabled ? 'enabled' : 'disabled'} for ${values.org}: ${connection.issuer}\n` +
          `register this redirect URI with the provider: ${connection.redirectUri}\n`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof AppException) {
      io.stderr.write(`${error.code}: ${error.message}\n`);
      return 65;
    }
    throw error;
  } finally {
    await running.close();
  }
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}
