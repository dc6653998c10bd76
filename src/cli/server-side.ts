/**
 * Commands that need a member's internals — `coffer server`, `coffer snapshot restore` and the offline
 * `coffer audit verify --data-dir` — run from src/server (src/server/coffer.ts picks them before the
 * client CLI parses anything). They are listed here too, so `coffer --help` and `coffer snapshot --help`
 * name them; the entry itself only ever runs in-process (runCli), where it says where the command runs.
 */
import type { Command } from 'commander';
import { CliError } from './errors.ts';

export function registerServerSideEntry(parent: Command, path: readonly string[], description: string, args = ''): void {
  const name = path.at(-1) ?? '';
  parent.command(`${name}${args === '' ? '' : ` ${args}`}`)
    .description(description)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new CliError(`coffer ${path.join(' ')} runs from the coffer executable (src/server/coffer.ts), not from runCli`);
    });
}
