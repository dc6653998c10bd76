/**
 * Expected PKI conditions as typed errors. Each carries a stable `code` (for callers and the API's
 * status mapping) and a one-line message that names the bad value — a path, a serial, a name — and
 * never key material or passphrases.
 */
import { CofferError } from '../base/index.ts';

export type PkiErrorCode =
  | 'FILE_MISSING'
  | 'UNTRUSTED_FILE'
  | 'BAD_PEM'
  | 'KEY_MISMATCH'
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'CERT_REVOKED'
  | 'CRL_STALE'
  | 'UNKNOWN_CA'
  | 'CA_EXISTS'
  | 'CA_PASSPHRASE_REQUIRED'
  | 'CA_PASSPHRASE_WRONG'
  | 'CA_PASSPHRASE_SHORT'
  | 'CA_LOCKED'
  | 'CERT_EXISTS'
  | 'UNKNOWN_SERIAL'
  | 'CANNOT_REVOKE_CA'
  | 'INVALID_NAME'
  | 'RESERVED_NAME'
  | 'INVALID_HOST'
  | 'INVALID_VALIDITY'
  | 'LIMIT_EXCEEDED'
  | 'REGISTRY_CORRUPT'
  | 'NOT_A_MEMBER_CERT'
  | 'NOT_A_CLIENT_CERT'
  | 'PEER_NAME_MISMATCH';

export class PkiError extends CofferError {
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isPkiError(error: unknown, code?: PkiErrorCode): error is PkiError {
  return error instanceof PkiError && (code === undefined || error.code === code);
}
