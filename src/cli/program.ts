/**
 * The `coffer` command tree. Each command group lives in commands/<group>.ts and registers itself
 * here; global flags are declared once on the root and read with optsWithGlobals().
 *
 * Errors: commander's own (unknown option, missing argument) and every error a command throws end as
 * one line on stderr and a non-zero exit status (run.ts).
 */
import { Command, Option } from 'commander';
import { registerAuditCommands } from './commands/audit.ts';
import { registerCaCommands } from './commands/ca.ts';
import { registerConfigMapCommands } from './commands/configmap.ts';
import { registerExecCommand } from './commands/exec.ts';
import { registerKeysCommands } from './commands/keys.ts';
import { registerKubeconfigCommand } from './commands/kubeconfig.ts';
import { registerMemberCommands } from './commands/member.ts';
import { registerNamespaceCommands } from './commands/namespace.ts';
import { registerPolicyCommands } from './commands/policy.ts';
import { registerRenderCommand } from './commands/render.ts';
import { registerSecretCommands } from './commands/secret.ts';
import { registerSnapshotCommands } from './commands/snapshot.ts';
import { registerStatusCommand } from './commands/status.ts';
import { registerWatchCommand } from './commands/watch.ts';
import { addConnectionOptions } from './connection.ts';
import type { CliIo } from './io.ts';
import { parseOutputFormat } from './options.ts';
import { registerServerSideEntry } from './server-side.ts';

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
  registerServerSideEntry(program, ['server'], 'run a Coffer member (until SIGTERM or Ctrl-C); coffer server --help lists its flags');
  registerCaCommands(program, io);
  registerMemberCommands(program, io);
  registerStatusCommand(program, io);
  registerSecretCommands(program, io);
  registerConfigMapCommands(program, io);
  registerNamespaceCommands(program, io);
  registerWatchCommand(program, io);
  registerPolicyCommands(program, io);
  registerKubeconfigCommand(program, io);
  registerSnapshotCommands(program, io);
  registerAuditCommands(program, io);
  registerKeysCommands(program, io);
  registerExecCommand(program, io);
  registerRenderCommand(program, io);
  return program;
}
