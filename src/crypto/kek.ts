/**
 * A KEK (key-encryption key) wraps the keyring's DEKs and its authentication key. Providers are the
 * three ways a member gets one: a passphrase (argon2id), a key file, a KMS plugin. A provider turns a
 * stored KekRecord (what the keyring remembers about its KEK: never the key) into a working Kek.
 */

/** argon2id parameters, recorded in the keyring so they can be raised by a KEK rotation. */
export interface Argon2Params {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

export type KekRecord =
  | ({ source: 'passphrase'; /** base64, 16 random bytes per member */ salt: string } & Argon2Params)
  | { source: 'keyFile' }
  | { source: 'kms'; /** the plugin's name for its key, as it returned it on the first wrap */ keyId: string };

export type KekSource = KekRecord['source'];

export interface Kek {
  readonly record: KekRecord;
  /** Encrypts a key, binding `additional` (which key of which keyring). */
  wrap(key: Uint8Array, additional: Uint8Array): Promise<Uint8Array>;
  /** Decrypts a wrapped key; undefined when this KEK is not the one that wrapped it. */
  unwrap(wrapped: Uint8Array, additional: Uint8Array): Promise<Uint8Array | undefined>;
  /** Forgets the key material held in memory. */
  wipe(): void;
}

export interface KekProvider {
  readonly source: KekSource;
  /** For status and messages: "passphrase", "key file /etc/coffer/unseal.key", "KMS plugin at /run/kms.sock". */
  readonly description: string;
  /** A KEK for a new keyring (or a KEK rotation): fresh salt, new KMS key id, ... */
  create(): Promise<Kek>;
  /** The KEK a stored record describes; recorded parameters win over the provider's own defaults. */
  open(record: KekRecord): Promise<Kek>;
}
