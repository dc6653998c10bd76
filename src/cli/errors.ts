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
  if (isClientError(error)) return clientErrorMessage(error);
  if (isK8sApiError(error) || isRbacError(error) || isPkiError(error) || error instanceof CliError) return oneLine(error.message);
  return undefined;
}

/**
 * A client error in words: `…: cannot connect (SELF_SIGNED_CERT_IN_CHAIN)` becomes `…: cannot connect:
 * the member's certificate was not issued by the CA in --cacert (SELF_SIGNED_CERT_IN_CHAIN)`; the
 * code stays, for searching.
 */
export function clientErrorMessage(error: Error): string {
  const code = codeOf(error.cause);
  const words = code === undefined ? undefined : codeInWords(code);
  let message = error.message;
  if (code !== undefined && words !== undefined && message.endsWith(` (${code})`)) message = `${message.slice(0, -` (${code})`.length)}: ${words} (${code})`;
  // A member closes a connection whose certificate it refuses without a TLS alert the client could
  // read: right after the handshake the client sees only the reset.
  const refused = message.includes('ECONNRESET') ? '; if it repeats, the member may have refused your certificate (its log names the reason)' : '';
  return oneLine(message + refused);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const notOurCa = 'the member\'s certificate was not issued by the CA in --cacert (COFFER_CACERT): give the CA of the cluster you mean to reach';

/** What a TLS verification failure means, for the commands that dial members (node's and OpenSSL's codes). */
const tlsCodes: Readonly<Record<string, string>> = {
  SELF_SIGNED_CERT_IN_CHAIN: notOurCa,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: notOurCa,
  UNABLE_TO_GET_ISSUER_CERT: notOurCa,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: notOurCa,
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the member\'s certificate is self-signed, not issued by the CA in --cacert (COFFER_CACERT)',
  CERT_SIGNATURE_FAILURE: 'the signature on the member\'s certificate does not verify against the CA in --cacert (COFFER_CACERT)',
  CERT_HAS_EXPIRED: 'the member\'s certificate has expired: renew it (coffer ca issue --member NAME --host H --force)',
  CERT_NOT_YET_VALID: 'the member\'s certificate is not valid yet: check the clocks of both machines',
  CERT_REVOKED: 'the member\'s certificate is revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the member\'s certificate does not name the host of the endpoint: use a name or address it was issued for (--host of coffer ca issue)',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the endpoint does not speak TLS: is it a member\'s client port?',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'the member does not trust the CA of your certificate (--cert)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the member refused your certificate (--cert): its log names the reason',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: 'the member refused your certificate as revoked',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'the member refused your certificate as expired',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the member asks for a client certificate (--cert and --key)',
};

/** What a system error means, in words (files and connections). */
const errnoCodes: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'it already exists',
  EMFILE: 'too many open files',
  ENXIO: 'no such device or address (a socket cannot be read as a file)',
  EIO: 'input/output error',
  ECONNREFUSED: 'nothing accepts connections there: is the member running, and is the port its client port?',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'no such host name',
  EAI_AGAIN: 'the host name could not be looked up just now',
  EADDRNOTAVAIL: 'the address is not available on this machine',
  EPIPE: 'the other end closed the connection',
};

/** Any error as one line: a client error in words (clientErrorMessage), another its message. */
export function errorLine(error: unknown): string {
  if (isClientError(error)) return clientErrorMessage(error);
  return oneLine(error instanceof Error ? error.message : String(error));
}

/** A system, TLS or OpenSSL error code in words, or undefined when it has none here. */
export function codeInWords(code: string): string | undefined {
  return Object.hasOwn(tlsCodes, code) ? tlsCodes[code] : Object.hasOwn(errnoCodes, code) ? errnoCodes[code] : undefined;
}

/** `no such file or directory (ENOENT)` for an error carrying a code (the bare code when it has no words here); undefined when it carries none. */
export function describeCode(error: unknown): string | undefined {
  const code = codeOf(error);
  if (code === undefined) return undefined;
  const words = codeInWords(code);
  return words === undefined ? code : `${words} (${code})`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
