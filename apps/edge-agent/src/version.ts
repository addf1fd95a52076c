/** The agent's own version, read from its package.json (one level above both src/ and dist/). */
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version?: unknown;
};

export const AGENT_VERSION = typeof manifest.version === 'string' ? manifest.version : '0.0.0';
