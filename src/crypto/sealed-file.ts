/**
 * A small file of the member sealed by the keyring outside the stores (the member identity, the audit
 * signing key): what DEK rotation needs of it (storage/barrier) — the sealed bytes whose header names
 * their DEK, and a rewrite sealed with the active DEK. Its owner (the layer that writes the file)
 * provides it.
 */
export interface SealedFile {
  /** The sealed bytes as on disk, or undefined when the file does not exist. */
  sealed(): Promise<Uint8Array | undefined>;
  /** Rewrites the file sealed with the active DEK, atomically; nothing when it does not exist. */
  reseal(): Promise<void>;
}
