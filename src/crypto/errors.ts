/**
 * The expected failures of the crypto layer, each with a stable `code`. Messages name positions, paths
 * and ids — never key material or page contents.
 */

/** A sealed page (or the keyring file) failed authentication: tampered, moved, swapped or replayed. */
export class IntegrityError extends Error {
  readonly code = 'E_INTEGRITY';
  override readonly name = 'IntegrityError';
}

/** The member cannot unseal: no KEK, or a KEK (passphrase, key file, KMS key) that does not open the keyring. */
export class SealedError extends Error {
  readonly code = 'E_SEALED';
  override readonly name = 'SealedError';
  constructor(reason: string, options?: ErrorOptions) {
    super(`cannot unseal: ${reason}`, options);
  }
}

/** A key or passphrase file that must not be used: missing, wrong size, not a regular file, or readable by group or others. */
export class KeyFileError extends Error {
  readonly code = 'E_KEY_FILE';
  override readonly name = 'KeyFileError';
}

/** The KMS plugin could not be reached or answered with an error. */
export class KmsError extends Error {
  readonly code = 'E_KMS';
  override readonly name = 'KmsError';
}

/** The keyring file is unreadable or malformed (as opposed to failing authentication). */
export class KeyringError extends Error {
  readonly code = 'E_KEYRING';
  override readonly name = 'KeyringError';
}

const sourceNames: Record<string, string> = { passphrase: 'a passphrase', keyFile: 'a key file', kms: 'a KMS plugin' };

/** The keyring was sealed by one kind of KEK and another kind was offered. */
export function sourceMismatch(recorded: string, given: string): SealedError {
  return new SealedError(`the keyring is sealed by ${sourceNames[recorded] ?? recorded}, but ${sourceNames[given] ?? given} was given`);
}
