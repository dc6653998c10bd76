/**
 * File I/O for the PKI: bounded reads that turn "no such file" into one FILE_MISSING line naming the
 * path, and atomic writes (src/durable's write-then-rename, through a temporary no other local user can
 * predict or plant, in a directory created if missing) so a reader — including the TLS reloader
 * watching the directory — sees either the old or the new file, never a torn one. Private keys are
 * written with mode 0600, certificates 0644. A directory created for them is 0700 whatever the umask, as
 * ssh wants ~/.ssh: one others can write to lets them replace a certificate or plant a key; one that
 * exists keeps its mode.
 */
import { open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pkiFileBytesMax } from '../config/index.ts';
import { nodeFs, writeFileDurably } from '../durable/index.ts';
import { PkiError } from './errors.ts';

export const privateFileMode = 0o600;
export const publicFileMode = 0o644;
const privateDirMode = 0o700;

export async function readPkiFile(path: string): Promise<Buffer> {
  // Opened first and sized through the handle: the file read is the file sized, and one removed
  // between a look and the open (a lock released, a file replaced) is missing, not an open error.
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    if (isNotFound(cause)) throw new PkiError('FILE_MISSING', `missing file: ${path}`, { cause });
    throw cause;
  }
  try {
    const size = (await handle.stat()).size;
    if (size > pkiFileBytesMax) {
      throw new PkiError('LIMIT_EXCEEDED', `${path} is ${size} bytes, over pkiFileBytesMax (${pkiFileBytesMax})`);
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
