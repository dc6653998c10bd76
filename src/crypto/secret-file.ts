/**
 * Files that hold a secret the operator hands a member or the CLI: a key file, a passphrase file (for
 * unsealing, for a new KEK, for a backup). Each must be a regular file (not a symlink) readable by its
 * owner only, mode 0600 or 0400: a secret others can read is not a secret, so a looser mode is refused
 * with one line naming the file, its mode and the fix, rather than used (as ssh refuses such a key).
 * The mode checked is the mode of the descriptor actually read (fstat after open), so the file cannot
 * be swapped between the check and the read.
 */
import { constants, promises as fs } from 'node:fs';
import { passphraseFileBytesMax } from '../config/index.ts';
import { KeyFileError } from './errors.ts';
import { sodiumReady, wipe } from './sodium.ts';

/** The whole file; `what` names it in errors ("key file", "passphrase file"). The caller wipes the bytes. */
export async function readSecretFile(file: string, what: string, bytesMax: number): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new KeyFileError(`cannot read ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyFileError(`${what} ${file} is not a regular file`);
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
