/**
 * cli — the `coffer` client commands. The executable is src/server/coffer.ts; runCli runs one invocation against a CliIo
 * (tests use it in-process). Command groups live in commands/, one file each, registered by
 * program.ts. Invariant: a failed invocation prints exactly one line on stderr and exits non-zero;
 * secrets (passphrases, keys) are never printed.
 */
export { runCli } from './run.ts';
export { buildProgram } from './program.ts';
export type { GlobalOptions } from './options.ts';
export { type CliIo, processIo } from './io.ts';
