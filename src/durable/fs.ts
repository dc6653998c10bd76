/**
 * The file-system seam: every persistent part of a member (WAL, keyring, sealed files, the store's
 * directory swap) reaches the disk through a DurableFs. Production passes `nodeFs`; the simulator passes
 * a power-loss file system (test/sim) that keeps what was not fsynced apart and may lose, reorder or
 * tear it at a crash, and keeps a rename or a new name in limbo until its directory is fsynced.
 *
 * Errors are Node's: an Error with `code` ('ENOENT', 'EEXIST', 'ENOSPC', 'EIO', …).
 * The synchronous reads exist because Raft's Storage interface is synchronous (the WAL reads entries
 * and its snapshot file from inside it).
 */
import { closeSync, constants, openSync, promises as fs, readFileSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { preallocatedAppends } from './preallocate.ts';
import { createTempFile } from './temp-file.ts';

/** A file opened for writing a new whole file (createTemp). */
export interface WriteHandle {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  /** fdatasync: the data written so far (and the size) is on stable storage when it resolves. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A file opened for synced appends: every write is durable when it resolves — its data and the file's
 * size, as after an fdatasync — so making a batch durable is one system call, not a write and an
 * fdatasync (two trips through libuv's thread pool).
 */
export interface SyncedAppendHandle {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

/** A file opened for positional reads, synchronously. */
export interface SyncReadHandle {
  /** Reads up to `target.length` bytes at `position`; returns how many (0 at the end of the file). */
  read(target: Uint8Array, position: number): number;
  close(): void;
}

export interface DurableFs {
  readFile(file: string): Promise<Buffer>;
  readFileSync(file: string): Buffer;
  openReadSync(file: string): SyncReadHandle;
  /**
   * Opens `file` for synced appends (nodeFs: O_DSYNC), creating it (mode 0600) if needed; `created` says
   * whether it was new (its name is durable only once the directory is fsynced). With `preallocateBytes`,
   * the file is kept that much longer than its data while open (preallocate.ts) and cut back at close;
   * it must then be opened only while its length is its data's (closed, or cut back by recovery).
   */
  openSyncedAppend(file: string, preallocateBytes?: number): Promise<{ handle: SyncedAppendHandle; created: boolean }>;
  /**
   * Creates a new, empty temporary of `file` for writing — beside it, under a name no one else can
   * predict or take over (temp-file.ts) — with exactly `mode` (the umask does not apply); returns its path.
   */
  createTemp(file: string, mode: number): Promise<{ path: string; handle: WriteHandle }>;
  readdir(dir: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number; isDirectory: boolean }>;
  /**
   * Creates `dir`; with `recursive`, also its missing parents, and an existing dir is no error. With
   * `mode`, each directory it creates has exactly that mode (the umask does not apply); an existing one
   * keeps its own.
   */
  mkdir(dir: string, options: { recursive?: boolean; mode?: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { recursive?: boolean; force?: boolean }): Promise<void>;
  /** Cuts `file` to `length` bytes and makes that durable (fsync). */
  truncateDurably(file: string, length: number): Promise<void>;
  /** Makes the names in `dir` durable: a created, renamed or removed entry survives a power cut. */
  fsyncDir(dir: string): Promise<void>;
}

export const nodeFs: DurableFs = {
  readFile: (file) => fs.readFile(file),
  readFileSync: (file) => readFileSync(file),
  openReadSync(file) {
    const fd = openSync(file, constants.O_RDONLY);
    return {
      read: (target, position) => readSync(fd, target, 0, target.length, position),
      close: () => closeSync(fd),
    };
  },
  async openSyncedAppend(file, preallocateBytes = 0) {
    // Preallocated, the writes go at explicit positions: O_APPEND would put them past the zeros.
    const flags = constants.O_WRONLY | constants.O_DSYNC | (preallocateBytes > 0 ? 0 : constants.O_APPEND);
    let opened: { handle: FileHandle; created: boolean };
    try {
      opened = { handle: await fs.open(file, flags | constants.O_CREAT | constants.O_EXCL, 0o600), created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      opened = { handle: await fs.open(file, flags, 0o600), created: false };
    }
    if (preallocateBytes === 0) return opened;
    const { handle, created } = opened;
    let position = (await handle.stat()).size;
    const sequential: SyncedAppendHandle = {
      async write(buffer, offset, length) {
        const written = await handle.write(buffer, offset, length, position);
        position += written.bytesWritten;
        return written;
      },
      close: () => handle.close(),
    };
    const setLengthDurably = async (bytes: number): Promise<void> => {
      await handle.truncate(bytes);
      await handle.datasync();
    };
    return { handle: preallocatedAppends(sequential, setLengthDurably, position, preallocateBytes), created };
  },
  createTemp: (file, mode) => createTempFile(file, mode),
  readdir: (dir) => fs.readdir(dir),
  async stat(path) {
    const stat = await fs.stat(path);
    return { size: stat.size, isDirectory: stat.isDirectory() };
  },
  async mkdir(dir, options) {
    if (options.mode === undefined) await fs.mkdir(dir, options);
    else await mkdirWithMode(dir, options.mode, options.recursive === true);
  },
  rename: (from, to) => fs.rename(from, to),
  rm: (path, options) => fs.rm(path, options),
  async truncateDurably(file, length) {
    const handle = await fs.open(file, 'r+');
    try {
      await handle.truncate(length);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async fsyncDir(dir) {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/**
 * nodeFs.mkdir with a mode: mkdir applies the umask, so each directory it creates is then given exactly
 * `mode` — through a descriptor of the directory itself, so a symlink swapped in for it meanwhile is not
 * followed — before the next one is created inside it (a umask that takes the owner's bits cannot stop
 * the way down). A directory that exists keeps its mode.
 */
async function mkdirWithMode(dir: string, mode: number, recursive: boolean): Promise<void> {
  try {
    await fs.mkdir(dir, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (recursive && code === 'EEXIST' && (await fs.stat(dir)).isDirectory()) return;
    if (!recursive || code !== 'ENOENT' || dirname(dir) === dir) throw error;
    await mkdirWithMode(dirname(dir), mode, true);
    await mkdirWithMode(dir, mode, true);
    return;
  }
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/** The bytes of `file`, or undefined when it does not exist (any other failure is thrown). */
export async function readFileIfPresent(fs: DurableFs, file: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads into `target` from `position` of the file until `target` is full or the file ends; returns the bytes read. */
export function readFully(handle: SyncReadHandle, target: Uint8Array, position: number): number {
  let filled = 0;
  while (filled < target.length) {
    const read = handle.read(target.subarray(filled), position + filled);
    if (read === 0) break;
    filled += read;
  }
  return filled;
}

/**
 * Reads `file` from its start into `target` until `target` is full or the file ends; returns the bytes
 * read (a view of `target`). Reading many large files through one buffer touches its memory once,
 * where a new buffer per file pays its page faults every time (docs/performance.md, WAL recovery).
 */
export function readIntoSync(fs: DurableFs, file: string, target: Uint8Array): Uint8Array {
  const handle = fs.openReadSync(file);
  try {
    return target.subarray(0, readFully(handle, target, 0));
  } finally {
    handle.close();
  }
}
