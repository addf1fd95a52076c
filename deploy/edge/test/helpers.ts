/** Shared by the packaging specs: paths, a bundle built into a temporary directory, and process helpers. */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const deployDir = path.resolve(import.meta.dirname, '..');
export const workspaceRoot = path.resolve(deployDir, '../..');
export const agentVersion = (
  JSON.parse(fs.readFileSync(path.join(workspaceRoot, 'apps/edge-agent/package.json'), 'utf8')) as {
    version: string;
  }
).version;

const tempDirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `medfleet-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Builds the bundle with the `bundle` target's script into a fresh directory and returns it. */
export function buildBundle(): string {
  const out = path.join(tempDir('bundle'), 'medfleet-agent');
  execFileSync(
    process.execPath,
    [path.join(workspaceRoot, 'apps/edge-agent/scripts/bundle.mjs'), '--out', out],
    {
      stdio: 'pipe',
    },
  );
  return out;
}

export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): SpawnSyncReturns<string> {
  return spawnSync(command, [...args], {
    encoding: 'utf8',
    cwd: options.cwd ?? os.tmpdir(),
    env: { ...process.env, ...options.env },
    timeout: 60_000,
  });
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

/** Fails loudly (naming the Debian package) when a tool the packaging tests need is missing. */
export function requireCommand(name: string, debianPackage: string): void {
  if (!hasCommand(name)) throw new Error(`${name} is needed for this test: apt-get install ${debianPackage}`);
}
