/**
 * Backup key files, for backups a member writes without ever holding what decrypts them (etcd's
 * Snapshot over gRPC): `coffer snapshot keygen FILE` writes an X25519 key pair of libsodium's
 * crypto_box — the secret key to FILE (base64, mode 0600, kept by the operator) and the public key to
 * FILE.pub (base64), which members are given with --backup-recipient. A backup sealed to the public
 * key opens only with the secret key (key.ts). Neither file is ever overwritten.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeyFileError, readSecretFile, sodiumReady, wipe } from '../../crypto/index.ts';
import { nodeFs } from '../../durable/index.ts';
import { BackupError } from './errors.ts';
import type { BackupKeyPair } from './key.ts';

/** The public key file beside a secret key file. */
export function backupPublicKeyFile(secretKeyFile: string): string {
  return `${secretKeyFile}.pub`;
}

/** Base64 of a 32-byte key and a newline: both files hold nothing else. */
const keyFileBytesMax = 64;
const keyBytes = 32;

/** Writes a new key pair: FILE (secret, 0600) and FILE.pub (public); refuses if either exists. */
export async function createBackupKeyFiles(secretKeyFile: string): Promise<{ secretKeyFile: string; publicKeyFile: string }> {
  const sodium = await sodiumReady();
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  const publicKeyFile = backupPublicKeyFile(secretKeyFile);
  const secretText = Buffer.from(`${Buffer.from(privateKey).toString('base64')}\n`);
  wipe(privateKey);
  try {
    await writeNew(publicKeyFile, Buffer.from(`${Buffer.from(publicKey).toString('base64')}\n`), 0o644);
    await writeNew(secretKeyFile, secretText, 0o600);
  } finally {
    wipe(secretText);
  }
  await nodeFs.fsyncDir(path.dirname(path.resolve(secretKeyFile)));
  return { secretKeyFile, publicKeyFile };
}

/** A backup recipient's public key (--backup-recipient). */
export async function readBackupRecipient(file: string): Promise<Uint8Array> {
  let content: Buffer;
  try {
    content = await fs.readFile(file);
  } catch (error) {
    throw new BackupError('E_BACKUP_KEY', `cannot read backup recipient ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return decodeKey(content, `backup recipient ${file}`);
}

/** A backup secret key file (--backup-key), with its public key derived from it. The caller wipes secretKey. */
export async function readBackupKeyPair(file: string): Promise<BackupKeyPair> {
  const sodium = await sodiumReady();
  let content: Buffer;
  try {
    content = await readSecretFile(file, 'backup key file', keyFileBytesMax);
  } catch (error) {
    if (error instanceof KeyFileError) throw new BackupError('E_BACKUP_KEY', error.message);
    throw error;
  }
  try {
    const secretKey = decodeKey(content, `backup key file ${file}`);
    return { secretKey, publicKey: sodium.crypto_scalarmult_base(secretKey) };
  } finally {
    wipe(content);
  }
}

function decodeKey(content: Buffer, what: string): Uint8Array {
  const text = content.toString('latin1').trim();
  const key = /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (key?.length !== keyBytes) throw new BackupError('E_BACKUP_KEY', `${what} does not hold a base64 ${keyBytes}-byte key (coffer snapshot keygen writes one)`);
  const copy = Uint8Array.from(key);
  wipe(key);
  return copy;
}

async function writeNew(file: string, data: Buffer, mode: number): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'wx', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError('E_BACKUP_KEY', `${file} already exists; a backup key is never overwritten`);
    throw error;
  }
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
