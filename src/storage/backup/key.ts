/**
 * The backup key: a 32-byte master key split by libsodium's KDF into the secretstream key and a short
 * key check value (stored in the header, so a wrong passphrase or key is told apart from a damaged file
 * before any chunk is read). The master key is either argon2id over the backup passphrase with the
 * file's salt and recorded parameters, or random and sealed to a backup recipient's X25519 public key
 * (crypto_box_seal: only the holder of the matching secret key opens it; the writer, a member serving
 * etcd's Snapshot, cannot). The master key is wiped at once; the caller wipes the stream key when done.
 */
import argon2 from 'argon2';
import type { Argon2Params } from '../../crypto/index.ts';
import { sodiumReady, wipe } from '../../crypto/index.ts';

export const saltBytes = 16;
const kdfContext = 'cofferbk';
const streamKeyId = 1;
const checkKeyId = 2;
const checkBytes = 16;

export interface BackupKeys {
  streamKey: Uint8Array;
  keyCheck: Uint8Array;
}

/** A backup recipient: an X25519 key pair of libsodium's crypto_box (the secret key only where backups are read). */
export interface BackupKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Fresh backup keys for a file sealed to `recipient`; `sealedKey` (80 bytes) goes into its header. */
export async function sealedBackupKeys(recipient: Uint8Array): Promise<BackupKeys & { sealedKey: Uint8Array }> {
  const sodium = await sodiumReady();
  const master = sodium.randombytes_buf(sodium.crypto_kdf_KEYBYTES);
  try {
    return { ...split(sodium, master), sealedKey: sodium.crypto_box_seal(master, recipient) };
  } finally {
    wipe(master);
  }
}

/** The backup keys of a file sealed to `keyPair`; undefined when the key pair is not its recipient. */
export async function openSealedBackupKeys(sealedKey: Uint8Array, keyPair: BackupKeyPair): Promise<BackupKeys | undefined> {
  const sodium = await sodiumReady();
  let master: Uint8Array;
  try {
    master = sodium.crypto_box_seal_open(sealedKey, keyPair.publicKey, keyPair.secretKey);
  } catch {
    return undefined;
  }
  try {
    return split(sodium, master);
  } finally {
    wipe(master);
  }
}

export async function deriveBackupKeys(passphrase: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<BackupKeys> {
  const sodium = await sodiumReady();
  // Views, not copies: no second copy of the passphrase is left to wipe.
  const master = await argon2.hash(Buffer.from(passphrase.buffer, passphrase.byteOffset, passphrase.byteLength), {
    type: argon2.argon2id, raw: true, salt: Buffer.from(salt.buffer, salt.byteOffset, salt.byteLength), hashLength: sodium.crypto_kdf_KEYBYTES,
    memoryCost: params.memoryKiB, timeCost: params.timeCost, parallelism: params.parallelism,
  });
  try {
    return split(sodium, master);
  } finally {
    wipe(master);
  }
}

function split(sodium: Awaited<ReturnType<typeof sodiumReady>>, master: Uint8Array): BackupKeys {
  return {
    streamKey: sodium.crypto_kdf_derive_from_key(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES, streamKeyId, kdfContext, master),
    keyCheck: sodium.crypto_kdf_derive_from_key(checkBytes, checkKeyId, kdfContext, master),
  };
}
