/**
 * The temporary a whole-file write goes through (replace.ts): a new file beside its target — in the same
 * directory, so the rename that puts it in place is atomic — named `<file>.<token>.tmp`, the token 16 hex
 * digits from the CSPRNG. Another local user who may write to that directory can neither predict the
 * name nor have the write land in something of theirs: the file is always created new (O_CREAT|O_EXCL,
 * so neither their file nor their symlink at the name is opened, and O_NOFOLLOW besides), and a name
 * that exists is given up for a fresh one, tempFileAttemptsMax times at most.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { tempFileAttemptsMax } from '../config/index.ts';

const tokenBytes = 8;
const tokenPattern = /^\.[0-9a-f]{16}\.tmp$/;

export function tempPathOf(file: string, token: string): string {
  return `${file}.${token}.tmp`;
}

/**
 * Whether `name`, an entry of `file`'s directory, is a temporary of `file`: `<file>.<token>.tmp`, or
 * `<file>.tmp`, the one name earlier versions used for every write (a crash may have left one).
 */
export function isTempNameOf(file: string, name: string): boolean {
  const base = path.basename(file);
  if (!name.startsWith(base)) return false;
  const rest = name.slice(base.length);
  return rest === '.tmp' || tokenPattern.test(rest);
}

function randomToken(): string {
  return randomBytes(tokenBytes).toString('hex');
}

/**
 * Creates a new, empty temporary of `file` for writing, with exactly `mode` (the umask does not apply).
 * `token` draws the names to try; only tests choose them.
 */
export async function createTempFile(file: string, mode: number, token: () => string = randomToken): Promise<{ path: string; handle: FileHandle }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  for (let attempt = 1; attempt <= tempFileAttemptsMax; attempt++) {
    const temp = tempPathOf(file, token());
    let handle: FileHandle;
    try {
      handle = await fs.open(temp, flags, mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    try {
      await handle.chmod(mode); // open() applied the umask; make the mode exactly what was asked
    } catch (error) {
      await handle.close();
      await fs.rm(temp, { force: true });
      throw error;
    }
    return { path: temp, handle };
  }
  throw Object.assign(new Error(`no new temporary file for ${file}: the ${tempFileAttemptsMax} names tried (tempFileAttemptsMax) all exist`), { code: 'EEXIST' });
}
