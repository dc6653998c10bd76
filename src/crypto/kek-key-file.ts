/**
 * KEK from a 32-byte key file. The file must be its user's own, readable by them only (mode 0600 or
 * 0400; see secret-file.ts). It holds the 32 bytes raw, or as base64 text (44 characters, optional
 * trailing newline).
 */
import { randomFillSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { nodeFs } from '../durable/index.ts';
import { KeyFileError, sourceMismatch } from './errors.ts';
import type { KekProvider } from './kek.ts';
import { kekBytes, localKek } from './kek-local.ts';
import { readSecretFile } from './secret-file.ts';
import { sodiumReady, wipe } from './sodium.ts';

const keyFileBytesMax = 256;

/** Reads a key file, refusing loose modes and wrong sizes; returns a provider holding the key. */
export async function keyFileKek(file: string): Promise<KekProvider & { forget(): void }> {
  return keyProvider(await readKeyFile(file), `key file ${file}`);
}

/**
 * A key-file KEK provider from a key file's content handed over another way (`coffer keys rotate-kek
 * --new-unseal-key-file` sends it to each member): the same two accepted forms and the same checks as
 * a key file. `content` stays the caller's to wipe; `what` names it in errors.
 */
export function keyContentKek(content: Uint8Array, what: string): KekProvider & { forget(): void } {
  return keyProvider(decodeKey(Buffer.from(content.buffer, content.byteOffset, content.byteLength), what), what);
}

function keyProvider(key: Uint8Array, description: string): KekProvider & { forget(): void } {
  return {
    source: 'keyFile',
    description,
    create: () => Promise.resolve(localKek(key, { source: 'keyFile' })),
    open(record) {
      if (record.source !== 'keyFile') return Promise.reject(sourceMismatch(record.source, 'keyFile'));
      return Promise.resolve(localKek(key, record));
    },
    forget: () => wipe(key),
  };
}

async function readKeyFile(file: string): Promise<Uint8Array> {
  await sodiumReady();
  const content = await readSecretFile(file, 'key file', keyFileBytesMax);
  try {
    return decodeKey(content, `key file ${file}`);
  } finally {
    wipe(content);
  }
}

function decodeKey(content: Buffer, file: string): Uint8Array {
  if (content.length > keyFileBytesMax) throw new KeyFileError(`${file} is ${content.length} bytes; expected ${kekBytes}`);
  if (content.length === kekBytes) return Uint8Array.from(content);
  const text = content.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    if (key.length === kekBytes) {
      const copy = Uint8Array.from(key);
      wipe(key);
      return copy;
    }
  }
  throw new KeyFileError(`${file} is ${content.length} bytes; expected ${kekBytes} raw bytes or their base64`);
}

/**
 * Creates a new key file with 32 random bytes, mode 0600, refusing to overwrite an existing file;
 * the file and its directory are fsync'd before this resolves.
 */
export async function createKeyFile(file: string): Promise<void> {
  const key = randomFillSync(Buffer.alloc(kekBytes));
  try {
    await nodeFs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.writeFile(key);
      await handle.chmod(0o600); // umask may have narrowed nothing, but never widened: make it exact
      await handle.sync();
    } finally {
      await handle.close();
    }
    const dir = await fs.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } finally {
    wipe(key);
  }
}

/**
 * Whether there is a key file at `file` to keep — the unseal key made beside a member's certificate is
 * never replaced, since it opens the member's data. False when nothing is there; true when it is the
 * caller's own private key file (keyFileKek's checks); anything else at that name — a symlink, a file
 * others may read, one another user made (who then knows the key the member would seal its data
 * with) — is refused with a KeyFileError, one line naming the file and what is wrong.
 */
export async function ownKeyFileExists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  (await keyFileKek(file)).forget();
  return true;
}
