/**
 * File I/O for the PKI: bounded reads that turn "no such file" into one FILE_MISSING line naming the
 * path, and atomic writes (temp file in the same directory, fsync, rename, fsync the directory) so a
 * reader — including the TLS reloader watching the directory — sees either the old or the new file,
 * never a torn one. Private keys are written with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pkiFileBytesMax } from '../config/index.ts';
import { PkiError } from './errors.ts';

export const privateFileMode = 0o600;
export const publicFileMode = 0o644;

export async function readPkiFile(path: string): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (cause) {
    if (isNotFound(cause)) throw new PkiError('FILE_MISSING', `missing file: ${path}`, { cause });
    throw cause;
  }
  if (size > pkiFileBytesMax) {
    throw new PkiError('LIMIT_EXCEEDED', `${path} is ${size} bytes, over pkiFileBytesMax (${pkiFileBytesMax})`);
  }
  const handle = await open(path, 'r');
  try {
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
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.chmod(mode); // open() applied the umask; make the mode exactly what was asked
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}
