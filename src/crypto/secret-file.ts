/**
 * Files that hold a secret the operator hands a member or the CLI: a key file, a passphrase file (for
 * unsealing, for a new KEK, for a backup). Each must be a regular file (not a symlink) of the user
 * reading it, readable by that owner only, mode 0600 or 0400: a secret others can read is not a secret,
 * and one another user made is one they know (only root can read another user's 0600 file, so that is
 * when it matters). Anything else is refused with one line naming the file and what is wrong, rather
 * than used (as ssh refuses such a key). The owner and mode checked are those of the descriptor
 * actually read (fstat after open), so the file cannot be swapped between the check and the read.
 */
import { constants, promises as fs } from 'node:fs';
import { passphraseFileBytesMax } from '../config/index.ts';
import { KeyFileError } from './errors.ts';
import { sodiumReady, wipe } from './sodium.ts';

export interface SecretFileOptions {
  /**
   * The uid the file must belong to: by default the effective uid of this process (undefined where
   * there is none, on Windows: then no owner is checked). Tests that cannot chown a file to another
   * user (not run as root) name another uid here to see the same check refuse it.
   */
  ownerUid?: number;
}

/** The whole file; `what` names it in errors ("key file", "passphrase file"). The caller wipes the bytes. */
export async function readSecretFile(file: string, what: string, bytesMax: number, options: SecretFileOptions = {}): Promise<Buffer> {
  const ownerUid = options.ownerUid ?? process.geteuid?.();
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new KeyFileError(`cannot read ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyFileError(`${what} ${file} is not a regular file`);
    if (ownerUid !== undefined && stat.uid !== ownerUid) {
      throw new KeyFileError(`${what} ${file} belongs to uid ${stat.uid}, not to this user (uid ${ownerUid}): that user knows it; use a file of your own`);
    }
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new KeyFileError(`${what} ${file} has mode 0${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${file})`);
    }
    if (stat.size > bytesMax) throw new KeyFileError(`${what} ${file} is ${stat.size} bytes, more than ${bytesMax}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * A passphrase from a secret file, without one trailing newline (how editors end a file, not part of
 * the passphrase). An empty passphrase is refused. The caller wipes the returned bytes.
 */
export async function readPassphraseFile(file: string, what = 'passphrase file', bytesMax = passphraseFileBytesMax): Promise<Uint8Array> {
  await sodiumReady();
  const bytes = await readSecretFile(file, what, bytesMax);
  try {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
    if (end === 0) throw new KeyFileError(`${what} ${file} is empty`);
    return Uint8Array.from(bytes.subarray(0, end));
  } finally {
    wipe(bytes);
  }
}
