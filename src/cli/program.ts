/**
 * The `coffer` command tree. Each command group lives in commands/<group>.ts and registers itself
 * here; global flags are declared once on the root and read with optsWithGlobals().
 *
 * Errors: commander's own (unknown option, missing argument) and every error a command throws end as
 * one line on stderr and a non-zero exit status (run.ts).
 */
import { Command, Option } from 'commander';
import { registerCaCommands } from './commands/ca.ts';
import { registerMemberCommands } from './commands/member.ts';
import { registerStatusCommand } from './commands/status.ts';
import { addConnectionOptions } from './connection.ts';
import type { CliIo } from './io.ts';
import { parseOutputFormat } from './options.ts';

export function buildProgram(io: CliIo): Command {
  const program = new Command('coffer')
    .description('Coffer: a Raft-replicated, encrypted store for Kubernetes Secrets and ConfigMaps')
    .addOption(new Option('-o, --output <format>', 'output format: json, yaml or table').default('table').argParser(parseOutputFormat))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
    });
  addConnectionOptions(program);
  registerCaCommands(program, io);
  registerMemberCommands(program, io);
  registerStatusCommand(program, io);
  return program;
}
