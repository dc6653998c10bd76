/**
 * The backup key: argon2id over the backup passphrase with the file's salt and recorded parameters,
 * split by libsodium's KDF into the secretstream key and a short key check value (stored in the
 * header, so a wrong passphrase is told apart from a damaged file before any chunk is read).
 * The argon2id output is wiped at once; the caller wipes the stream key when done.
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

export async function deriveBackupKeys(passphrase: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<BackupKeys> {
  const sodium = await sodiumReady();
  // Views, not copies: no second copy of the passphrase is left to wipe.
  const master = await argon2.hash(Buffer.from(passphrase.buffer, passphrase.byteOffset, passphrase.byteLength), {
    type: argon2.argon2id, raw: true, salt: Buffer.from(salt.buffer, salt.byteOffset, salt.byteLength), hashLength: sodium.crypto_kdf_KEYBYTES,
    memoryCost: params.memoryKiB, timeCost: params.timeCost, parallelism: params.parallelism,
  });
  try {
    return {
      streamKey: sodium.crypto_kdf_derive_from_key(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES, streamKeyId, kdfContext, master),
      keyCheck: sodium.crypto_kdf_derive_from_key(checkBytes, checkKeyId, kdfContext, master),
    };
  } finally {
    wipe(master);
  }
}
