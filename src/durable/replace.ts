/**
 * Durable write-then-rename: the one way a member puts a whole file, or a directory, in place so that a
 * crash (power loss included) leaves either the old or the new, each complete.
 *
 *   writeFileDurably  write a new temporary beside `file` (temp-file.ts: `<file>.<token>.tmp`, a name no
 *                     one can predict, never one that exists), fdatasync it, rename it over `file`,
 *                     fsync the directory;
 *   renameDurably     rename, then fsync the directory (both, when the names live in two);
 *   mkdirDurably      create a directory and its missing parents, fsyncing each parent that gained one.
 *
 * A rename or a new name is durable only once its directory is fsynced: until then a power cut may
 * undo it even though the data it names was synced. A failed write removes its temporary; a crash
 * mid-write leaves it, and an owner for whom a stray copy matters (the keyring: an old KEK opens it)
 * removes them the next time it opens the file (removeTempsOf).
 * `onStep` is the seam for crash tests: it is called after each named step.
 */
import path from 'node:path';
import { type DurableFs, nodeFs } from './fs.ts';
import { isTempNameOf } from './temp-file.ts';

export type DurableWriteStep = 'temp-written' | 'temp-synced' | 'renamed' | 'dir-synced';

export interface DurableWriteOptions {
  /** The new file's mode (default 0600). */
  mode?: number;
  fs?: DurableFs;
  onStep?: (step: DurableWriteStep) => void;
}

export async function writeFileDurably(file: string, data: string | Uint8Array, options: DurableWriteOptions = {}): Promise<void> {
  const fs = options.fs ?? nodeFs;
  const step = options.onStep ?? (() => {});
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const { path: temp, handle } = await fs.createTemp(file, options.mode ?? 0o600);
  try {
    try {
      let written = 0;
      while (written < bytes.length) written += (await handle.write(bytes, written, bytes.length - written)).bytesWritten;
      step('temp-written');
      await handle.datasync();
      step('temp-synced');
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  step('renamed');
  await fs.fsyncDir(path.dirname(file));
  step('dir-synced');
}

/** Removes the temporaries of `file` that a crash mid-write left (see the header). */
export async function removeTempsOf(file: string, fs: DurableFs = nodeFs): Promise<void> {
  const dir = path.dirname(file);
  for (const name of await fs.readdir(dir)) {
    if (isTempNameOf(file, name)) await fs.rm(path.join(dir, name), { force: true });
  }
}

export async function renameDurably(from: string, to: string, fs: DurableFs = nodeFs): Promise<void> {
  await fs.rename(from, to);
  await fs.fsyncDir(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) await fs.fsyncDir(path.dirname(from));
}

/** Creates `dir` (and missing parents) durably; the parent of `dir` is fsynced even if `dir` existed. */
export async function mkdirDurably(dir: string, options: { mode?: number; fs?: DurableFs } = {}): Promise<void> {
  const fs = options.fs ?? nodeFs;
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    if (await exists(fs, at)) break;
    missing.push(at);
    if (path.dirname(at) === at) break;
  }
  for (const created of missing.reverse()) {
    await fs.mkdir(created, { recursive: true, ...(options.mode !== undefined ? { mode: options.mode } : {}) });
    await fs.fsyncDir(path.dirname(created));
  }
  if (missing.length === 0) await fs.fsyncDir(path.dirname(path.resolve(dir)));
}

export async function exists(fs: DurableFs, at: string): Promise<boolean> {
  try {
    await fs.stat(at);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
