#!/usr/bin/env node
/**
 * The `coffer` executable (package.json "bin"). `coffer server` runs a member — the composition root
 * lives here, in src/server, which nothing imports; every other command is the client CLI (src/cli).
 */
import { CommanderError } from 'commander';
import { processIo, runCli } from '../cli/index.ts';
import { serverCommand } from './server-command.ts';

// `coffer ca list | head`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const args = process.argv.slice(2);
if (args[0] === 'server') {
  try {
    await serverCommand().exitOverride().parseAsync(args.slice(1), { from: 'user' });
  } catch (error) {
    // commander has printed its own output (help, usage errors) and says how to exit.
    if (error instanceof CommanderError) process.exit(error.exitCode);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`coffer server: ${message.split('\n')[0] ?? ''}\n`);
    process.exit(1);
  }
} else {
  process.exitCode = await runCli(args, processIo);
}
