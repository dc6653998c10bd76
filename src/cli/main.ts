#!/usr/bin/env node
/** Entry point of the `coffer` command (package.json "bin"): runs the CLI on the real process. */
import { processIo } from './io.ts';
import { runCli } from './run.ts';

// `coffer ca list | head`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runCli(process.argv.slice(2), processIo);
