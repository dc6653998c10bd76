/**
 * The failures a user can act on, and how each is said: one line, `coffer: <message>`. A CliError is
 * the CLI's own (a bad flag value, a file it cannot use); a Status from the server, a connection
 * failure, an invalid policy or a certificate problem carry their own message. Anything else is a bug.
 *
 * Invariant: no message carries a value given with --from-literal, read with --from-file or held by a
 * Secret; they name keys, files, flags and objects.
 */
import { CofferError } from '../base/index.ts';
import { isClientError, isK8sApiError } from '../client/index.ts';
import { isPkiError } from '../pki/index.ts';
import { isRbacError } from '../rbac/index.ts';

export class CliError extends CofferError {
  readonly code: string = 'E_CLI';
}

/** A command that ends with this exit status and has already said what it had to (exec: its program's status). */
export class CommandExit extends CofferError {
  readonly code = 'E_EXIT';
  constructor(readonly status: number) {
    super(`exit status ${status}`);
  }
}

/** The line to print for an expected failure (without `coffer: `), or undefined for a bug. */
export function expectedMessage(error: unknown): string | undefined {
  if (isClientError(error)) {
    // A member closes a connection whose certificate it refuses without a TLS alert the client could
    // read: right after the handshake the client sees only the reset.
    const refused = error.message.includes('ECONNRESET') ? '; if it repeats, the member may have refused your certificate (its log names the reason)' : '';
    return oneLine(error.message + refused);
  }
  if (isK8sApiError(error) || isRbacError(error) || isPkiError(error) || error instanceof CliError) return oneLine(error.message);
  return undefined;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
