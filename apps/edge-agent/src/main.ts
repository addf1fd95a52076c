#!/usr/bin/env -S node --lite-mode --no-expose-wasm --max-semi-space-size=1
/**
 * Entry point of the `medfleet-agent` command.
 *
 * The flags above trade JIT speed for memory, which a Raspberry Pi has less of than CPU time for an agent
 * that wakes every 30 s: V8's lite mode (no optimizing compilers) and a 1 MiB young generation take the
 * private memory of a running agent from ~51 to ~25 MB (`npm run bench:agent` measures both). Lite mode
 * has no WebAssembly; `--no-expose-wasm` says so up front instead of V8 warning at every start. `env -S`
 * needs GNU coreutils 8.30+ (Debian 10+, Raspberry Pi OS); whatever starts the agent through `node` directly
 * (a systemd unit) should pass the same flags.
 */
import { runCli } from './cli.js';

const exitCode = await runCli(process.argv.slice(2));
process.exitCode = exitCode;
// Everything is closed by now; should a stray handle linger, do not let it keep a stopped agent alive.
setTimeout(() => process.exit(exitCode), 2_000).unref();
