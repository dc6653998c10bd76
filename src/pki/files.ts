/**
 * File I/O for the PKI: bounded reads that turn "no such file" into one FILE_MISSING line naming the
 * path (for a file that decides whom to trust, only of one no other user could have written:
 * readTrustedPkiText), and atomic writes (src/durable's write-then-rename, through a temporary no other
 * local user can predict or plant, in a directory created if missing) so a reader — including the TLS
 * reloader watching the directory — sees either the old or the new file, never a torn one. Private keys are
 * written with mode 0600, certificates 0644. A directory created for them is 0700 whatever the umask, as
 * ssh wants ~/.ssh: one others can write to lets them replace a certificate or plant a key; one that
 * exists keeps its mode.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pkiFileBytesMax } from '../config/index.ts';
import { nodeFs, othersMayReplace, othersMayWrite, writeFileDurably } from '../durable/index.ts';
import { isPkiError, PkiError } from './errors.ts';

export const privateFileMode = 0o600;
export const publicFileMode = 0o644;
const privateDirMode = 0o700;

export async function readPkiFile(path: string): Promise<Buffer> {
  return readBounded(path, constants.O_RDONLY);
}

/**
 * The text of a file whose content decides whom to trust — the CA certificate and CRL a restore checks a
 * backup's signer against, where no TLS peer would notice a wrong one — read only if no one but this
 * user or root could have written it: a regular file (not a symbolic link, whose target could be
 * anywhere) of theirs, writable by no one else, in directories only they can change (othersMayReplace).
 * The file judged is the descriptor read. Anything else is one UNTRUSTED_FILE line naming the file as
 * `what` ("the CA certificate") and why; a missing file is FILE_MISSING.
 */
export async function readTrustedPkiText(path: string, what: string): Promise<string> {
  const refuse = (why: string): PkiError => new PkiError('UNTRUSTED_FILE', `cannot trust ${what} ${path}: ${why}`);
  const othersMay = (why: string): PkiError => refuse(`${why}; another user may have written it`);
  const bytes = await readBounded(path, constants.O_RDONLY | constants.O_NOFOLLOW, async (stats) => {
    if (!stats.isFile()) throw refuse('it is not a regular file');
    const writable = othersMayWrite(stats);
    if (writable !== undefined) throw othersMay(`it ${writable}`);
    const replaceable = await othersMayReplace(path);
    if (replaceable !== undefined) throw othersMay(replaceable);
  }).catch(async (error: unknown) => {
    // O_NOFOLLOW refuses a symbolic link with ELOOP on Linux, with other codes elsewhere.
    if (!isPkiError(error) && (await lstat(path).then((s) => s.isSymbolicLink(), () => false))) throw refuse('it is a symbolic link; give the file itself');
    throw error;
  });
  return bytes.toString('utf8');
}

/**
 * The whole file, opened first and sized through the handle: the file read is the file sized, and one
 * removed between a look and the open (a lock released, a file replaced) is missing, not an open error.
 * `check` judges the opened file before it is read.
 */
async function readBounded(path: string, flags: number, check?: (stats: Stats) => Promise<void>): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, flags);
  } catch (cause) {
    if (isNotFound(cause)) throw new PkiError('FILE_MISSING', `missing file: ${path}`, { cause });
    throw cause;
  }
  try {
    const stats = await handle.stat();
    await check?.(stats);
    if (stats.size > pkiFileBytesMax) {
      throw new PkiError('LIMIT_EXCEEDED', `${path} is ${stats.size} bytes, over pkiFileBytesMax (${pkiFileBytesMax})`);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export async function readPkiText(path: string): Promise<string> {
  return (await readPkiFile(path)).toString('utf8');
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (cause) {
    if (isNotFound(cause)) return false;
    throw cause;
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  await makePrivateDir(dirname(path));
  await writeFileDurably(path, data, { mode });
}

/** Creates `dir` and its missing parents, 0700 whatever the umask; one that exists keeps its mode. */
export async function makePrivateDir(dir: string): Promise<void> {
  await nodeFs.mkdir(dir, { recursive: true, mode: privateDirMode });
}

export function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}
