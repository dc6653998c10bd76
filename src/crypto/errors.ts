/**
 * The expected failures of the crypto layer, each with a stable `code`. Messages name positions, paths
 * and ids — never key material or page contents.
 */
import { CofferError } from '../base/index.ts';

/** A sealed page (or the keyring file) failed authentication: tampered, moved, swapped or replayed. */
export class IntegrityError extends CofferError {
  readonly code = 'E_INTEGRITY';
}

/** The member cannot unseal: no KEK, or a KEK (passphrase, key file, KMS key) that does not open the keyring. */
export class SealedError extends CofferError {
  readonly code = 'E_SEALED';
  constructor(reason: string, options?: ErrorOptions) {
    super(`cannot unseal: ${reason}`, options);
  }
}

/** A key or passphrase file that must not be used: missing, wrong size, not a regular file, or readable by group or others. */
export class KeyFileError extends CofferError {
  readonly code = 'E_KEY_FILE';
}

/** The KMS plugin could not be reached or answered with an error. */
export class KmsError extends CofferError {
  readonly code = 'E_KMS';
}

/** The keyring file is unreadable or malformed (as opposed to failing authentication). */
export class KeyringError extends CofferError {
  readonly code = 'E_KEYRING';
}

const sourceNames: Record<string, string> = { passphrase: 'a passphrase', keyFile: 'a key file', kms: 'a KMS plugin' };

/** The keyring was sealed by one kind of KEK and another kind was offered. */
export function sourceMismatch(recorded: string, given: string): SealedError {
  return new SealedError(`the keyring is sealed by ${sourceNames[recorded] ?? recorded}, but ${sourceNames[given] ?? given} was given`);
}
