#!/usr/bin/env node
/**
 * Bundles the agent into one ESM file plus the one native module it loads at run time (better-sqlite3), in a
 * layout that runs as is from any directory (`/opt/medfleet-agent` once installed):
 *
 *   package.json       name, version ("medfleet-agent --version" reads it: src/version.ts, `../package.json`)
 *   dist/main.js       the bundle, with the `#!/usr/bin/env -S node --lite-mode ...` line of src/main.ts
 *   proto/medfleet/v1  the contract's .proto files (`enroll` loads them from `<dist>/../proto`)
 *   node_modules/      better-sqlite3 (lib/ and build/Release/better_sqlite3.node), bindings, file-uri-to-path
 *
 * The `.node` binary is the one compiled by `npm install` on this machine: build the bundle on (or for) the
 * architecture it will run on. Usage: node apps/edge-agent/scripts/bundle.mjs [--out <dir>] (default
 * dist/medfleet-agent at the workspace root).
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const projectRoot = path.resolve(import.meta.dirname, '..');
const workspaceRoot = path.resolve(projectRoot, '../..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const outDir = path.resolve(values.out ?? path.join(workspaceRoot, 'dist/medfleet-agent'));

/** Modules left out of the bundle and shipped beside it: better-sqlite3 and what it requires at run time. */
const EXTERNAL = ['better-sqlite3'];
const NATIVE_RUNTIME = ['better-sqlite3', 'bindings', 'file-uri-to-path'];
/** What of each shipped module is needed at run time (the C++ sources and the SQLite amalgamation are not). */
const KEEP = {
  'better-sqlite3': ['package.json', 'LICENSE', 'lib', 'build/Release/better_sqlite3.node'],
  bindings: ['package.json', 'LICENSE.md', 'bindings.js'],
  'file-uri-to-path': ['package.json', 'LICENSE', 'index.js'],
};

const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8'));
const mainSource = fs.readFileSync(path.join(projectRoot, 'src/main.ts'), 'utf8');
const shebang = mainSource.split('\n', 1)[0];
if (!shebang.startsWith('#!')) throw new Error('apps/edge-agent/src/main.ts lost its #! line');

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(path.join(outDir, 'dist'), { recursive: true });

const bundleFile = path.join(outDir, 'dist/main.js');
const result = await build({
  entryPoints: [path.join(projectRoot, 'src/main.ts')],
  outfile: bundleFile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  external: EXTERNAL,
  alias: {
    '@medfleet/contracts': path.join(workspaceRoot, 'libs/contracts/src/index.ts'),
    '@medfleet/simulator': path.join(workspaceRoot, 'libs/simulator/src/index.ts'),
    '@medfleet/scheduling': path.join(workspaceRoot, 'libs/scheduling/src/index.ts'),
  },
  // CommonJS dependencies (mqtt, pino, grpc-js, ...) call require() for Node built-ins; an ES module has none.
  banner: {
    js: "import { createRequire as __medfleetCreateRequire } from 'node:module'; const require = __medfleetCreateRequire(import.meta.url);",
  },
});
// esbuild keeps an entry point's #! line on top; make sure it is exactly the one of src/main.ts.
const bundled = fs.readFileSync(bundleFile, 'utf8');
const body = bundled.startsWith('#!') ? bundled.slice(bundled.indexOf('\n') + 1) : bundled;
fs.writeFileSync(bundleFile, `${shebang}\n${body}`, { mode: 0o755 });
fs.chmodSync(bundleFile, 0o755);

fs.writeFileSync(
  path.join(outDir, 'package.json'),
  `${JSON.stringify(
    {
      name: 'medfleet-agent',
      version: manifest.version,
      description: manifest.description,
      private: true,
      type: 'module',
      bin: { 'medfleet-agent': './dist/main.js' },
      engines: manifest.engines,
    },
    null,
    2,
  )}\n`,
);

fs.cpSync(path.join(workspaceRoot, 'libs/contracts/proto'), path.join(outDir, 'proto'), { recursive: true });

// Resolve each shipped module the way the agent's own code does, so the copy is the one it was tested with.
const requireFromAgent = createRequire(path.join(projectRoot, 'package.json'));
for (const name of NATIVE_RUNTIME) {
  const from = path.dirname(requireFromAgent.resolve(`${name}/package.json`));
  const to = path.join(outDir, 'node_modules', name);
  for (const entry of KEEP[name]) {
    const source = path.join(from, entry);
    if (!fs.existsSync(source)) {
      throw new Error(
        `${source} is missing${name === 'better-sqlite3' ? ': run npm install (it compiles the native module)' : ''}`,
      );
    }
    fs.cpSync(source, path.join(to, entry), { recursive: true });
  }
}

const bundleBytes = fs.statSync(bundleFile).size;
const nativeBytes = fs.statSync(
  path.join(outDir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
).size;
const inputs = Object.keys(result.metafile.inputs).length;
console.log(
  `bundled ${inputs} modules into ${path.relative(workspaceRoot, bundleFile)} ` +
    `(${(bundleBytes / 1024).toFixed(0)} KiB) + better_sqlite3.node (${(nativeBytes / 1024).toFixed(0)} KiB)`,
);
