/**
 * Runs one `coffer` invocation and returns its exit status: 0 on success, 1 when a command fails,
 * commander's status for usage errors. Expected failures (errors.ts) print one line,
 * `coffer: <message>`; anything else is a bug and also prints one line (its stack only with
 * COFFER_DEBUG=1).
 */
import { CommanderError } from 'commander';
import { CommandExit, expectedMessage, oneLine } from './errors.ts';
import type { CliIo } from './io.ts';
import { buildProgram } from './program.ts';

export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // commander already printed its line
    if (error instanceof CommandExit) return error.status;
    const expected = expectedMessage(error);
    if (expected !== undefined) {
      io.err(`coffer: ${expected}\n`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`coffer: unexpected error: ${oneLine(message)}\n`);
    if (io.env.COFFER_DEBUG === '1' && error instanceof Error && error.stack !== undefined) io.err(`${error.stack}\n`);
    return 1;
  }
}
