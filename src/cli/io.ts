/**
 * The CLI's connection to the outside world, as a seam: tests run commands in-process with captured
 * output and a chosen environment; src/server/coffer.ts passes the real process.
 */
export interface CliIo {
  /** Writes to standard output (the caller adds newlines). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Standard input, for `--from-file KEY=-`; none: nothing can be read from it. */
  stdin?: () => AsyncIterable<Uint8Array>;
}

export const processIo: CliIo = {
  out: (text) => { process.stdout.write(text); },
  err: (text) => { process.stderr.write(text); },
  env: process.env,
  // Opened only when asked for: a command that reads no value from stdin leaves it alone.
  stdin: () => process.stdin,
};

/** An environment variable's value, with empty meaning unset (so `VAR=` cannot set an empty passphrase). */
export function envValue(io: CliIo, name: string): string | undefined {
  const value = io.env[name];
  return value === undefined || value === '' ? undefined : value;
}
