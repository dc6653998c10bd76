/**
 * `coffer exec [-n NS] --secret NAME[:PREFIX]… [--configmap NAME[:PREFIX]]… [--stage current|pending]
 * [--on-change restart|signal:SIG] [--stop-signal SIG] [--grace-period 10s] -- CMD ARGS…` — runs CMD
 * with the values as environment variables, in exec's own environment less Coffer's credentials
 * (deliver/environment.ts names them, and says which those are) and follows changes
 * (deliver/follower.ts): on a change it restarts CMD gracefully (the default: the stop signal, SIGKILL
 * after the grace period, then CMD with the new values) or, with signal:SIG, sends it SIG — an
 * environment cannot change, so that suits a program that reads its settings from files
 * `coffer render` keeps current.
 *
 * Exit status: CMD's own when it ends by itself (128 + n for signal n); 127 if it cannot be started;
 * 1 with one line when the values cannot be read or the members refuse the caller — CMD is then stopped
 * first. Values are never printed; notices name sources and resourceVersions.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { execGracePeriodMsDefault } from '../../config/index.ts';
import { variablesOf, withoutCredentials } from '../deliver/environment.ts';
import { addSourceOptions, describeSnapshot, followerFor, type SourceFlags, sourcesOf } from '../deliver/flags.ts';
import { Program } from '../deliver/program.ts';
import { CliError, CommandExit, expectedMessage } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { parseDuration, parseSignal } from '../options.ts';
import { k8sAction } from './k8s-common.ts';

type OnChange = { restart: true } | { signal: NodeJS.Signals };

interface ExecFlags extends SourceFlags {
  onChange: OnChange;
  stopSignal: NodeJS.Signals;
  gracePeriod: number;
}

/** The signals exec passes on to its program. */
const forwarded: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function registerExecCommand(program: Command, io: CliIo): void {
  addSourceOptions(program.command('exec'), true)
    .description('run a program with Secret and ConfigMap values as environment variables, and follow their changes')
    .argument('<command>', 'the program, after --')
    .argument('[args...]', 'its arguments')
    .option('--on-change <action>', 'restart (stop and start it with the new values) or signal:SIG (send it SIG)', parseOnChange, { restart: true })
    .option('--stop-signal <signal>', 'the signal that asks the program to stop, for a restart', parseSignal, 'SIGTERM')
    .option('--grace-period <duration>', `how long a stopping program may take before it is killed (default ${execGracePeriodMsDefault / 1000}s)`,
      parseDuration, execGracePeriodMsDefault)
    .action(k8sAction(async (command, name: string, args: string[]) => {
      const flags = command.optsWithGlobals<ExecFlags>();
      const notice = (line: string) => io.err(`coffer exec: ${line}\n`);
      const baseEnv = withoutCredentials(io.env);
      const child = new Program({ command: name, args, baseEnv, stopSignal: flags.stopSignal, graceMs: flags.gracePeriod });
      let variables: Map<string, string>;
      const follower = followerFor(flags, sourcesOf(flags, true), io, 'exec', async (snapshot) => {
        try {
          variables = variablesOf(snapshot, baseEnv);
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          notice(`${error.message}; ${name} keeps the values it has`);
          return;
        }
        if ('signal' in flags.onChange) {
          notice(`values changed (${describeSnapshot(snapshot)}); sending ${flags.onChange.signal} to ${name}`);
          child.signal(flags.onChange.signal);
          return;
        }
        notice(`values changed (${describeSnapshot(snapshot)}); restarting ${name}`);
        await child.restart(variables);
      });
      try {
        variables = variablesOf(await follower.read(), baseEnv);
      } catch (error) {
        follower.stop();
        throw error;
      }
      child.start(variables);
      const forward = (signal: NodeJS.Signals) => child.signal(signal);
      for (const signal of forwarded) process.on(signal, forward);
      follower.follow();
      const outcome = await Promise.race([child.ended, follower.failed.catch((error: unknown) => ({ failure: error }))]);
      follower.stop();
      for (const signal of forwarded) process.off(signal, forward);
      if ('failure' in outcome) {
        await child.stop();
        const message = expectedMessage(outcome.failure);
        if (message === undefined) throw outcome.failure;
        throw new CliError(`${message}; stopped ${name}`);
      }
      if ('error' in outcome) {
        io.err(`coffer: cannot run ${JSON.stringify(name)}: ${(outcome.error as NodeJS.ErrnoException).code ?? outcome.error.message}\n`);
        throw new CommandExit(127);
      }
      throw new CommandExit(outcome.status);
    }));
}

function parseOnChange(value: string): OnChange {
  if (value === 'restart') return { restart: true };
  if (value.startsWith('signal:')) return { signal: parseSignal(value.slice('signal:'.length)) };
  throw new InvalidArgumentError(`"${value}" is not restart or signal:SIG`);
}
