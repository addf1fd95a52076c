#!/usr/bin/env node
/** Entry point of the `medfleet-agent` command. */
import { runCli } from './cli.js';

const exitCode = await runCli(process.argv.slice(2));
process.exitCode = exitCode;
// Everything is closed by now; should a stray handle linger, do not let it keep a stopped agent alive.
setTimeout(() => process.exit(exitCode), 2_000).unref();
