/**
 * `coffer render --dir DIR`: each key of each source as the file DIR/KEY, as a Kubernetes Secret
 * volume shows them: mode 0600, in DIR (made 0700 if missing; this user's and writable by no one else,
 * or refused), each replaced atomically (a new
 * temporary file no other local user can plant, fsync, rename, fsync of the directory), so a reader
 * sees the old value or the new, never part of one. A key that disappears from
 * the sources has its file removed — only files this run wrote; other files in DIR are left alone.
 * Keys are the file names: a key that is not one ("..", a "/"), or two sources with the same key, is refused.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { nodeFs, othersMayWrite } from '../../durable/index.ts';
import { privateFileMode, writeFileAtomic } from '../../pki/index.ts';
import { CliError, describeCode } from '../errors.ts';
import { describeSource, type SourceValues } from './sources.ts';

export class DirectoryWriter {
  private readonly written = new Set<string>();

  constructor(private readonly dir: string) {}

  /** Writes every value; resolves with the number of files written. */
  async write(snapshot: readonly SourceValues[]): Promise<number> {
    const files = new Map<string, Buffer>();
    const owner = new Map<string, string>();
    for (const { source, values } of snapshot) {
      for (const [key, value] of values) {
        if (!/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key === '..') {
          throw new CliError(`key ${JSON.stringify(key)} of ${describeSource(source)} cannot be a file name in ${this.dir}`);
        }
        const earlier = owner.get(key);
        if (earlier !== undefined) throw new CliError(`key ${JSON.stringify(key)} is in both ${earlier} and ${describeSource(source)}: render them to different --dir`);
        owner.set(key, describeSource(source));
        files.set(key, value);
      }
    }
    await makeDirectory(this.dir);
    await checkOwnDirectory(this.dir);
    const cannot = (file: string) => (error: unknown) => {
      throw new CliError(`cannot write ${file}: ${describeCode(error) ?? 'unknown error'}`);
    };
    for (const [key, value] of files) await writeFileAtomic(join(this.dir, key), value, privateFileMode).catch(cannot(join(this.dir, key)));
    for (const key of this.written) {
      if (!files.has(key)) await rm(join(this.dir, key), { force: true }).catch(cannot(join(this.dir, key)));
    }
    this.written.clear();
    for (const key of files.keys()) this.written.add(key);
    return files.size;
  }
}

/**
 * Refuses a DIR this user (or root) does not alone control (othersMayWrite): one another user owns — who
 * may have made it before this run (in /tmp, say), and then sees the key names and sizes and can swap the
 * files the program reads — or one its group or others may write to. Judged on a descriptor of DIR itself, opened without
 * following a symbolic link, so what is judged is the directory there now, however it came to be: found,
 * made by this run, or made by someone else between makeDirectory's look and its mkdir. Checked before
 * every write, as a directory may be replaced between two.
 */
async function checkOwnDirectory(dir: string): Promise<void> {
  const refuse = (why: string): CliError => new CliError(`cannot use --dir ${dir}: ${why}`);
  let handle: FileHandle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    // Linux answers ENOTDIR, others ELOOP, for a symbolic link opened so.
    const link = await lstat(dir).then((s) => s.isSymbolicLink(), () => false);
    throw refuse(link ? 'it is a symbolic link; give the directory itself' : describeCode(error) ?? 'unknown error');
  }
  try {
    const writable = othersMayWrite(await handle.stat());
    if (writable !== undefined) throw refuse(`it ${writable}, who then see and can change what is written there`);
  } finally {
    await handle.close();
  }
}

/**
 * DIR and each missing parent, exactly 0700 whatever the umask, one level at a time from the deepest
 * that exists: what cannot be made is one CliError naming why — a parent that is not a directory, or
 * one that takes no new directory (procfs answers ENOENT there, on which node's recursive mkdir loops
 * for ever).
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(at)).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        missing.unshift(at);
        continue;
      }
      throw new CliError(`cannot use --dir ${dir}: ${describeCode(error) ?? 'unknown error'}`);
    }
    if (!isDirectory) throw new CliError(`cannot use --dir ${dir}: ${at} is not a directory`);
    break;
  }
  for (const one of missing) {
    try {
      await nodeFs.mkdir(one, { mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(one).then((s) => s.isDirectory(), () => false))) continue; // made meanwhile
      const why = code === 'ENOENT' ? `${dirname(one)} takes no new directory (ENOENT)` : describeCode(error) ?? 'unknown error';
      throw new CliError(`cannot create --dir ${dir}: ${why}`);
    }
  }
}
