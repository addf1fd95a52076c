/**
 * Zero-touch bootstrap settings: where to enroll and with which token, read from a file on the boot
 * partition (written by whoever images the card) or from the environment, which wins.
 *
 *   # /boot/firmware/medfleet.conf
 *   server = cp.example-msp.net:50052
 *   token = mfe_<tenant>_<secret>
 *   ca_file = /boot/firmware/medfleet-ca.pem   # optional: the control plane's private CA
 *   insecure = false                           # optional: plaintext gRPC, development only
 */
import fs from 'node:fs/promises';
import { AgentException } from './agent.exception.js';

/** Raspberry Pi OS mounts the boot partition at /boot/firmware since Bookworm, at /boot before. */
export const DEFAULT_BOOTSTRAP_FILES = ['/boot/firmware/medfleet.conf', '/boot/medfleet.conf'] as const;

export interface BootstrapSettings {
  server?: string;
  token?: string;
  /** PEM CA certificates to trust for the control plane's gRPC endpoint. */
  trustedCaPem?: string;
  caFile?: string;
  insecure: boolean;
  /** Where the settings came from (files and variables), for messages. */
  sources: string[];
}

const KEYS: Record<string, 'server' | 'token' | 'caFile' | 'insecure'> = {
  server: 'server',
  token: 'token',
  enrollment_token: 'token',
  ca_file: 'caFile',
  insecure: 'insecure',
};

function parseBoolean(text: string, where: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  throw new AgentException('USAGE', `${where}: expected true or false, got ${JSON.stringify(text)}`);
}

/** `key = value` lines; `#` starts a comment; keys may carry the MEDFLEET_ prefix of the variables. */
export function parseBootstrapFile(
  text: string,
  file: string,
): Partial<Record<'server' | 'token' | 'caFile' | 'insecure', string>> {
  const settings: Partial<Record<'server' | 'token' | 'caFile' | 'insecure', string>> = {};
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const match = /^([A-Za-z_]+)\s*[=:]\s*(.*)$/.exec(line);
    const key = match ? KEYS[(match[1] as string).toLowerCase().replace(/^medfleet_/, '')] : undefined;
    if (!match || !key) {
      throw new AgentException(
        'USAGE',
        `${file}:${index + 1}: expected "server", "token", "ca_file" or "insecure" = value, got ${JSON.stringify(raw.trim())}`,
      );
    }
    settings[key] = (match[2] as string).trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return settings;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgentException('USAGE', `cannot read ${file}: ${(error as Error).message}`);
  }
}

export async function readTrustedCa(file: string): Promise<string> {
  const pem = await readIfPresent(file);
  if (pem === undefined) throw new AgentException('USAGE', `CA file ${file} does not exist`);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new AgentException('USAGE', `CA file ${file} holds no PEM certificate`);
  }
  return pem;
}

/**
 * The bootstrap settings: the file named by `file` or MEDFLEET_BOOTSTRAP_FILE (which must exist), else the
 * first default file present; then MEDFLEET_SERVER, MEDFLEET_ENROLLMENT_TOKEN, MEDFLEET_CA_FILE and
 * MEDFLEET_INSECURE override it.
 */
export async function readBootstrapSettings(
  env: Record<string, string | undefined>,
  file?: string,
): Promise<BootstrapSettings> {
  const named = file ?? (env['MEDFLEET_BOOTSTRAP_FILE'] || undefined);
  const sources: string[] = [];
  let fromFile: ReturnType<typeof parseBootstrapFile> = {};
  for (const candidate of named ? [named] : DEFAULT_BOOTSTRAP_FILES) {
    const text = await readIfPresent(candidate);
    if (text === undefined) {
      if (named) throw new AgentException('USAGE', `bootstrap file ${candidate} does not exist`);
      continue;
    }
    fromFile = parseBootstrapFile(text, candidate);
    sources.push(candidate);
    break;
  }
  const pick = (variable: string, value: string | undefined) => {
    const fromEnv = env[variable] || undefined;
    if (fromEnv !== undefined) sources.push(variable);
    return fromEnv ?? value;
  };
  const server = pick('MEDFLEET_SERVER', fromFile.server);
  const token = pick('MEDFLEET_ENROLLMENT_TOKEN', fromFile.token);
  const caFile = pick('MEDFLEET_CA_FILE', fromFile.caFile);
  const insecureText = pick('MEDFLEET_INSECURE', fromFile.insecure);
  return {
    ...(server ? { server } : {}),
    ...(token ? { token } : {}),
    ...(caFile ? { caFile, trustedCaPem: await readTrustedCa(caFile) } : {}),
    insecure: insecureText === undefined ? false : parseBoolean(insecureText, 'insecure'),
    sources: [...new Set(sources)],
  };
}
