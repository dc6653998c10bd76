/**
 * The DurableFs one process incarnation sees over a PowerLossDisk: every asynchronous operation takes
 * simulated time (a seeded latency) and takes effect when it completes, so a crash can fall between any
 * two of a member's awaits. Once the process is dead (the host says so), its operations never complete
 * and their promises never settle, as for a killed process. Synchronous reads (Raft's Storage) take
 * effect at once.
 *
 * The host may fail an operation (ENOSPC or EIO, injected) and hears of every operation that changes
 * the disk, before and after it takes effect (crash points; the host may crash the process there).
 *
 * Besides the DurableFs seam it opens plain appends (`openAppend`: writes are durable only once
 * fdatasynced), which the simulator's LevelDB log uses. A synced append (O_DSYNC in production) is
 * modelled as a write followed by an fdatasync before the call returns: a crash between the two may
 * lose or tear the written bytes, as a crash inside an O_DSYNC write may.
 */
import type { Random } from '../../../src/base/index.ts';
import {
  type DurableFs, preallocatedAppends, type SyncedAppendHandle, type SyncReadHandle, tempPathOf, type WriteHandle,
} from '../../../src/durable/index.ts';
import { type FileNode, fsError, type PowerLossDisk } from './disk.ts';

/** Operations that change what is (or may become) on disk. */
export type FsMutation = 'create' | 'write' | 'datasync' | 'mkdir' | 'rename' | 'rm' | 'truncate' | 'fsyncDir';

export type InjectedError = 'ENOSPC' | 'EIO';

export interface SimFsHost {
  /** Runs `run` after `delayUs` microseconds of simulated time, unless the process died meanwhile. */
  after(delayUs: number, run: () => void): void;
  alive(): boolean;
  random: Random;
  /** An error to inject into this write or datasync, if any. */
  fault?(op: 'write' | 'datasync', path: string): InjectedError | undefined;
  /** Called just before and just after a mutation takes effect (the host may crash the process there). */
  onMutation?(op: FsMutation, path: string, phase: 'before' | 'after'): void;
}

/** Microseconds each kind of operation takes: [min, max]. */
const latencyUs = {
  meta: [2, 40],
  write: [5, 60],
  read: [5, 120],
  datasync: [80, 2500],
  fsyncDir: [60, 1500],
} as const;

/**
 * A synced append over a plain write handle: each write, then an fdatasync, before the write resolves.
 * The simulator's model of O_DSYNC, and the way test seams that fail a write or its sync stay synced.
 */
export function syncedAppendOver(handle: WriteHandle): SyncedAppendHandle {
  return {
    async write(buffer, offset, length) {
      const written = await handle.write(buffer, offset, length);
      await handle.datasync();
      return written;
    },
    close: () => handle.close(),
  };
}

/** `handle` as openSyncedAppend(file, preallocateBytes) returns it: kept `preallocateBytes` ahead of its data, if any. */
export async function preallocatedOver(fs: DurableFs, file: string, handle: SyncedAppendHandle, preallocateBytes: number): Promise<SyncedAppendHandle> {
  if (preallocateBytes === 0) return handle;
  const { size } = await fs.stat(file);
  return preallocatedAppends(handle, (bytes) => fs.truncateDurably(file, bytes), size, preallocateBytes);
}

export class SimFs implements DurableFs {
  /** The next temporary's token (createTemp). */
  private tempToken = 0;

  constructor(private readonly disk: PowerLossDisk, private readonly host: SimFsHost) {}

  readFile(file: string): Promise<Buffer> {
    return this.op('read', () => Buffer.from(this.disk.file(file, 'open').data.view()));
  }

  readFileSync(file: string): Buffer {
    return Buffer.from(this.disk.file(file, 'open').data.view());
  }

  openReadSync(file: string): SyncReadHandle {
    const node = this.disk.file(file, 'open');
    return {
      read(target, position) {
        const bytes = node.data.view().subarray(position, position + target.length);
        target.set(bytes);
        return bytes.length;
      },
      close() {},
    };
  }

  /**
   * Opens `file` for plain appends, creating it if needed: a write is durable once fdatasynced. With
   * `fromLength`, the writes go on from the length the file has now, whatever it becomes later (as at
   * explicit positions), rather than always at its end.
   */
  openAppend(file: string, fromLength = false): Promise<{ handle: WriteHandle; created: boolean }> {
    return this.mutation('create', file, 'meta', () => {
      const created = !this.disk.exists(file);
      const node = this.disk.createFile(file, 'open');
      return { handle: this.writer(node, file, fromLength ? node.data.size : 'append'), created };
    });
  }

  async openSyncedAppend(file: string, preallocateBytes = 0): Promise<{ handle: SyncedAppendHandle; created: boolean }> {
    const { handle, created } = await this.openAppend(file, preallocateBytes > 0);
    return { handle: await preallocatedOver(this, file, syncedAppendOver(handle), preallocateBytes), created };
  }

  /**
   * A temporary of `file` named as nodeFs names one, its token counted rather than drawn so a seed
   * replays exactly; a name an earlier incarnation left is passed over.
   */
  async createTemp(file: string): Promise<{ path: string; handle: WriteHandle }> {
    let path: string;
    do path = tempPathOf(file, (this.tempToken++).toString(16).padStart(16, '0')); while (this.disk.exists(path));
    return { path, handle: await this.createFile(path) };
  }

  /** Creates `file`, or truncates it, for writing. */
  createFile(file: string): Promise<WriteHandle> {
    return this.mutation('create', file, 'meta', () => {
      const node = this.disk.createFile(file, 'open');
      if (node.data.size > 0) this.disk.truncate(node, 0);
      return this.writer(node, file, 0);
    });
  }

  readdir(dir: string): Promise<string[]> {
    return this.op('meta', () => {
      const node = this.disk.lookup(dir, 'scandir');
      if (node.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', dir);
      return [...node.entries.keys()].sort();
    });
  }

  stat(path: string): Promise<{ size: number; isDirectory: boolean }> {
    return this.op('meta', () => {
      const node = this.disk.lookup(path, 'stat');
      return node.kind === 'dir' ? { size: 0, isDirectory: true } : { size: node.data.size, isDirectory: false };
    });
  }

  mkdir(dir: string, options: { recursive?: boolean }): Promise<void> {
    return this.mutation('mkdir', dir, 'meta', () => this.disk.mkdir(dir, options.recursive === true));
  }

  rename(from: string, to: string): Promise<void> {
    return this.mutation('rename', `${from} -> ${to}`, 'meta', () => this.disk.rename(from, to));
  }

  rm(path: string, options: { recursive?: boolean; force?: boolean }): Promise<void> {
    return this.mutation('rm', path, 'meta', () => this.disk.remove(path, options));
  }

  truncateDurably(file: string, length: number): Promise<void> {
    return this.mutation('truncate', file, 'datasync', () => {
      const node = this.disk.file(file, 'open');
      this.disk.truncate(node, length);
      this.disk.datasync(node);
    });
  }

  fsyncDir(dir: string): Promise<void> {
    return this.mutation('fsyncDir', dir, 'fsyncDir', () => {
      const node = this.disk.lookup(dir, 'open');
      if (node.kind !== 'dir') throw fsError('ENOTDIR', 'fsync', dir);
      this.disk.fsyncDir(node);
    });
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────

  private writer(node: FileNode, file: string, start: number | 'append'): WriteHandle {
    let position = start === 'append' ? 0 : start;
    let closed = false;
    const check = (syscall: string): void => {
      if (closed) throw fsError('EBADF', syscall, file);
    };
    return {
      write: (buffer, offset, length) => this.mutation('write', file, 'write', () => {
        check('write');
        let bytes = buffer.subarray(offset, offset + length);
        const injected = this.host.fault?.('write', file);
        if (injected === 'EIO') throw fsError('EIO', 'write', file);
        if (injected === 'ENOSPC') bytes = bytes.subarray(0, this.host.random.int(0, Math.max(0, bytes.length - 1)));
        const at = start === 'append' ? node.data.size : position;
        this.disk.writeAt(node, at, bytes);
        position = at + bytes.length;
        if (injected === 'ENOSPC') throw fsError('ENOSPC', 'write', file);
        return { bytesWritten: bytes.length };
      }),
      datasync: () => this.mutation('datasync', file, 'datasync', () => {
        check('fdatasync');
        if (this.host.fault?.('datasync', file) === 'EIO') {
          this.disk.poison(node);
          throw fsError('EIO', 'fdatasync', file);
        }
        this.disk.datasync(node);
      }),
      close: () => this.op('meta', () => {
        closed = true;
      }),
    };
  }

  /** A read-only operation: completes after its latency, unless the process died. */
  private op<T>(kind: keyof typeof latencyUs, effect: () => T): Promise<T> {
    return this.run(kind, effect, undefined);
  }

  /** A mutation: as op, and the host hears of it just before and just after it takes effect. */
  private mutation<T>(op: FsMutation, path: string, kind: keyof typeof latencyUs, effect: () => T): Promise<T> {
    return this.run(kind, effect, { op, path });
  }

  private run<T>(kind: keyof typeof latencyUs, effect: () => T, mutation: { op: FsMutation; path: string } | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.host.after(this.latency(kind), () => {
        if (mutation !== undefined) {
          this.host.onMutation?.(mutation.op, mutation.path, 'before');
          if (!this.host.alive()) return;
        }
        let result: T;
        try {
          result = effect();
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (mutation !== undefined) {
          this.host.onMutation?.(mutation.op, mutation.path, 'after');
          if (!this.host.alive()) return;
        }
        resolve(result);
      });
    });
  }

  private latency(kind: keyof typeof latencyUs): number {
    const [min, max] = latencyUs[kind];
    return this.host.random.int(min, max);
  }
}
