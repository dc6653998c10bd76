/**
 * crypto — envelope encryption for everything a member writes. A KEK (argon2id passphrase, 0600 key
 * file, or KMS plugin; see README.md for the plugin protocol) wraps numbered DEKs in an authenticated,
 * atomically replaced keyring file; the Keyring is the member's single Sealer: pages are sealed with
 * XChaCha20-Poly1305-IETF under the active DEK, with the page's position bound as additional data.
 *
 * Invariants: no plaintext key or page content leaves this folder except as the return value of
 * open(); errors name positions, files and ids, never contents; a wrong KEK writes nothing and fails
 * with one SealedError ("cannot unseal: ..."); a moved, swapped, replayed or altered page fails with
 * IntegrityError.
 */
export { RecordKind, type PagePosition, recordKindName, describePosition } from './position.ts';
export { type Sealer, pageFormatVersion, pageHeaderBytes, pageOverheadBytes } from './page.ts';
export { IntegrityError, SealedError, KeyFileError, KmsError, KeyringError } from './errors.ts';
export type { Argon2Params, Kek, KekProvider, KekRecord, KekSource } from './kek.ts';
export { passphraseKek, argon2ParamsDefault } from './kek-passphrase.ts';
export { keyFileKek, keyContentKek, createKeyFile, ownKeyFileExists } from './kek-key-file.ts';
export { readPassphraseFile, readSecretFile } from './secret-file.ts';
export { kmsKek, type KmsOptions } from './kek-kms.ts';
export { kmsProtocolVersion, type KmsRequest, type KmsResponse, type KmsErrorCode } from './kms-protocol.ts';
export {
  openKeyring, Keyring, type OpenKeyringOptions, type KeyringStatus, type DekStatus, type KeyringStep,
} from './keyring.ts';
export { keyringFileName } from './keyring-format.ts';
export { sodiumReady, wipe, equalConstantTime } from './sodium.ts';
export type { SealedFile } from './sealed-file.ts';
