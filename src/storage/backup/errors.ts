/**
 * The expected failures of reading and writing backups, each with a stable `code`. Messages name
 * files, chunk numbers and sizes — never a passphrase, a key name or a value.
 */
import { CofferError } from '../../base/index.ts';

export type BackupErrorCode =
  /** The file is not a Coffer backup (wrong magic line) or of a format version this build cannot read. */
  | 'E_BACKUP_FORMAT'
  /** The file ends before its final chunk: it was cut short (a copy or a save that did not finish). */
  | 'E_BACKUP_TRUNCATED'
  /** A chunk or the header failed authentication, or the contents contradict the header. */
  | 'E_BACKUP_CORRUPT'
  /** The passphrase does not open this backup. */
  | 'E_BACKUP_PASSPHRASE'
  /** No usable backup passphrase was given (no file, unreadable, empty, or no environment variable). */
  | 'E_BACKUP_NO_PASSPHRASE'
  /** The member's snapshot stream was malformed or ended before its end frame. */
  | 'E_BACKUP_STREAM'
  /** The target file already exists (a backup is never overwritten). */
  | 'E_BACKUP_EXISTS'
  /** A backup key file (recipient public key or secret key) is missing, loose or not a key. */
  | 'E_BACKUP_KEY'
  /** A backup sealed to a recipient carries no signature (format 1), and unsigned backups were not allowed. */
  | 'E_BACKUP_UNSIGNED'
  /**
   * A signed backup's signature does not verify, or its signer is not trusted (not a member certificate
   * of the cluster's CA, say), or a member cannot sign with its certificate.
   */
  | 'E_BACKUP_SIGNATURE';

export class BackupError extends CofferError {
  constructor(readonly code: BackupErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export function isBackupError(error: unknown): error is BackupError {
  return error instanceof BackupError;
}
