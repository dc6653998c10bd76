#!/usr/bin/env node
/**
 * The `coffer` executable (package.json "bin"). `coffer server` runs a member — the composition root
 * lives here, in src/server, which nothing imports; every other command is the client CLI (src/cli).
 */
import { Command, CommanderError } from 'commander';
import { processIo, runCli } from '../cli/index.ts';
import { privateUmask } from './data-dir.ts';

// `coffer ca list | head`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

// `coffer help server` and `coffer snapshot help restore` ask for the help of a server-side command.
const given = process.argv.slice(2);
const args = given[0] === 'help' && given[1] === 'server' ? ['server', '--help']
  : given[0] === 'snapshot' && given[1] === 'help' && given[2] === 'restore' ? ['snapshot', 'restore', '--help'] : given;
/** Where `audit verify` starts when it is the offline form (it names --data-dir), else -1. */
const auditAt = args.findIndex((a, i) => a === 'audit' && args[i + 1] === 'verify');
const offlineAuditVerify = auditAt >= 0 && args.slice(auditAt + 2).some((a) => a === '--data-dir' || a.startsWith('--data-dir=')) ? auditAt : -1;

/**
 * Runs a command that needs server internals; its errors end as one line naming the command. These
 * commands write data dirs, so whatever they create is their owner's alone (src/server/data-dir.ts).
 * The command hangs under `coffer` (and `snapshot`, `audit`) so its help reads `Usage: coffer server …`.
 */
async function runServerSide(name: string, command: Command, rest: string[]): Promise<void> {
  process.umask(privateUmask);
  let parent = new Command('coffer');
  for (const word of name.split(' ').slice(0, -1)) parent = parent.command(word);
  parent.addCommand(command);
  try {
    await command.exitOverride().parseAsync(rest, { from: 'user' });
  } catch (error) {
    // commander has printed its own output (help, usage errors) and says how to exit.
    if (error instanceof CommanderError) process.exit(error.exitCode);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`coffer ${name}: ${message.split('\n')[0] ?? ''}\n`);
    process.exit(1);
  }
}

// The server-side commands are loaded only when asked for: a client command starts faster without them.
if (args[0] === 'server') {
  const { serverCommand } = await import('./server-command.ts');
  await runServerSide('server', serverCommand(), args.slice(1));
} else if (offlineAuditVerify >= 0) {
  // Offline verify opens the member's keyring and store: server-side (global connection flags before it
  // do not apply and are dropped). Without --data-dir, the CLI asks the running members.
  const { auditVerifyCommand } = await import('./audit-verify.ts');
  await runServerSide('audit verify', auditVerifyCommand(), args.slice(offlineAuditVerify + 2));
} else if (args[0] === 'snapshot' && args[1] === 'restore') {
  // Restore runs offline on a data dir and needs the member's keyring and store: server-side.
  const { restoreCommand } = await import('./restore.ts');
  await runServerSide('snapshot restore', restoreCommand(), args.slice(2));
} else {
  process.exitCode = await runCli(args, processIo);
}
