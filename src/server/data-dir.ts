/**
 * A member's data dir is its owner's alone: the dir 0700 and everything under it closed to group and
 * others (directories 0700, files keep their owner bits: 0600 or 0400). Every page in it is sealed,
 * but file names, sizes and timing still tell a reader something, and a key file next to a readable
 * store is one chmod away from a stolen disk (docs/security.md, "Files on disk").
 *
 * Two halves: `coffer server` (and the other server-side commands that write a data dir) run with
 * umask 077, so nothing is created open (LevelDB creates its files 0644 and its directory 0755,
 * and takes no mode); and at every start the existing tree is closed, which repairs data dirs left
 * by earlier versions or by hand. Symbolic links are not followed below the data dir itself.
 */
import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The umask server-side commands run with: new files and directories are their owner's alone. */
export const privateUmask = 0o077;

/** Creates `dataDir` (0700) if missing and closes anything under it open to group or others; returns how many paths it changed. */
export async function closeDataDir(dataDir: string): Promise<number> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  return closeTree(dataDir, (await stat(dataDir)).mode);
}

async function closeTree(path: string, mode: number): Promise<number> {
  const isDirectory = (mode & 0o170000) === 0o040000;
  let changed = 0;
  if ((mode & 0o077) !== 0) {
    await chmod(path, isDirectory ? 0o700 : mode & 0o700).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot make ${path} in the data dir its owner's alone (${error.code ?? error.message})`);
    });
    changed++;
  }
  if (!isDirectory) return changed;
  for (const name of await readdir(path)) {
    const child = join(path, name);
    const info = await lstat(child);
    if (info.isSymbolicLink()) continue;
    changed += await closeTree(child, info.mode);
  }
  return changed;
}
