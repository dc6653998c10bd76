/**
 * storage/backup — encrypted, integrity-checked backups of a member's store (`coffer snapshot save`
 * and `coffer snapshot restore`), and the plaintext snapshot stream a member sends to the saving CLI
 * over mutual TLS (wire.ts). The CLI encrypts before anything touches its disk, so the backup
 * passphrase never leaves the operator's machine.
 *
 * File format (version 2; version 1 is the same without a signature part), all integers big-endian:
 *
 *   "COFFER-BACKUP\n"                         magic line (14 bytes)
 *   header line                               JSON, space-padded to backupHeaderBytes (4096) incl. "\n":
 *     { format: 2, createdAt, sourceClusterId, revision, appliedIndex, compactRevision, records,
 *       kdf: { algorithm: "argon2id", salt (base64, 16 B), memoryKiB, timeCost, parallelism }
 *            | { algorithm: "x25519-sealed-box", sealedKey (base64, 80 B) },
 *       keyCheck (base64, 16 B), streamHeader (base64, secretstream header, 24 B) }
 *   chunk*                                    u32 length word (bit 31 = FINAL) + secretstream ciphertext
 *   signature part                            sealed to a recipient only: u32 length + msgpack
 *                                             [algorithm, certificate DER, signature] (signature.ts)
 *
 * Key: argon2id(passphrase, salt, params) — or 32 random bytes sealed to the recipient — split by crypto_kdf (context "cofferbk") into
 * the crypto_secretstream_xchacha20poly1305 key (id 1) and the key check value (id 2).
 * Chunks: each TAG_MESSAGE chunk is the msgpack array of a batch of snapshot records (records.ts;
 * the store's header record first, then pages in revision order), about backupChunkBytesTarget of
 * plaintext. The last chunk is TAG_FINAL, its plaintext msgpack [recordCount, SHA-256 over every
 * earlier plaintext chunk in order, optional zero padding (so a file can end at a size etcdctl accepts)]
 * — the integrity hash — and its additional data the exact JSON
 * bytes of the header line (without padding), so an edited header does not authenticate.
 *
 * Signature (signature.ts): a backup sealed to a recipient is written by a member, and the sealing is
 * anonymous (anyone with the public key can seal), so the member signs it with its TLS identity over
 * the whole file as written; a reader verifies the signature, and its caller whether the certificate
 * is a member of the cluster's CA. A format 1 backup sealed to a recipient carries no signature and is
 * opened only when the caller allows unsigned backups (E_BACKUP_UNSIGNED otherwise).
 *
 * Invariants: no key name or value is ever written in the clear; a file is written to a temporary
 * sibling and appears under its name only complete; a reader yields records only from authenticated
 * chunks and a consumer trusts them only once records() finished: no FINAL chunk → E_BACKUP_TRUNCATED,
 * a flipped byte → E_BACKUP_CORRUPT, a wrong passphrase → E_BACKUP_PASSPHRASE (via the key check).
 */
export { BackupError, type BackupErrorCode, isBackupError } from './errors.ts';
export { type BackupHeader, backupFormatVersion, backupMagic } from './header.ts';
export { type BackupSummary, writeBackup, type WriteBackupOptions } from './writer.ts';
export { type OpenBackupOptions, openBackup, type OpenedBackup } from './reader.ts';
export { type BackupSigner, backupSigner, type VerifySigner } from './signature.ts';
export { backupPassphraseEnv, readBackupPassphrase } from './passphrase.ts';
export type { BackupKeyPair } from './key.ts';
export { backupPublicKeyFile, createBackupKeyFiles, readBackupKeyPair, readBackupRecipient } from './recipient.ts';
export { encodeSnapshotStream, snapshotStreamContentType, SnapshotStreamReader, type StreamBegin } from './wire.ts';
