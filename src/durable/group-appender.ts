/**
 * Group commit for append-only files (WAL segments, audit files). Records are queued in order, already
 * encoded, each naming its file. One flush loop writes whatever is queued (up to `batchRecordsMax`
 * records) in one synced write (the file is opened O_DSYNC: the write returns once its data and the
 * file's size are on stable storage, as after an fdatasync, in one trip through libuv's thread pool
 * instead of two); records that arrive while that write is in flight wait for the next one. A waiter
 * learns its record is durable only after the synced write covering it (and, for a new file, the
 * directory fsync) returned.
 *
 * A record nobody waits for now may be enqueued `deferred`: it starts no flush of its own but rides
 * with the next record that does (or the flush already in flight), or is flushed `deferredFlushMs`
 * after it was queued if none comes — so a writer whose records alternate between waited-for and not
 * pays one synced write per waited-for record, not two in series.
 *
 * Invariants:
 * - Records reach disk in queue order; `durableSeq` only grows and every record with seq <= durableSeq
 *   is on stable storage.
 * - After any open, write or sync failure the appender is failed for good ("fsyncgate": the page cache
 *   may hold data that never reached the disk, so carrying on could acknowledge lost records). Waiting
 *   and later records are rejected with the owner's error; the owner reopens or restarts.
 *
 * The file system and the clock (which schedules flushes) are seams: the simulator passes its own.
 * `openFile` is a narrower seam for failure tests: it replaces only how files are opened.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Clock, realClock, type TimerHandle } from '../base/index.ts';
import { type DurableFs, nodeFs, type SyncedAppendHandle } from './fs.ts';

/** The part of a file handle the appender uses: every write is durable when it resolves. */
export type AppendHandle = SyncedAppendHandle;

/** Opens `file` for synced appends, creating it (mode 0600) if needed; `created` says whether it was new. */
export type OpenAppendFile = DurableFs['openSyncedAppend'];

export interface QueuedAppend {
  seq: number;
  file: string;
  bytes: Uint8Array;
}

export interface AppendStats {
  /** Batches made durable (one per file touched by a batch; each as an fdatasync). */
  fsyncs: number;
  recordsWritten: number;
  bytesWritten: number;
  largestBatchRecords: number;
}

export interface GroupAppenderOptions {
  /** The seq of the last record already on disk. */
  startSeq: number;
  /** Records covered by one flush at most. */
  batchRecordsMax: number;
  /** The owner's error for a failed write or sync (it names the consequence for the owner's users). */
  failure: (cause: Error) => Error;
  /** The owner's error for records after close(). */
  closed: () => Error;
  fs?: DurableFs;
  /** Schedules flushes (default: the real clock). */
  clock?: Clock;
  openFile?: OpenAppendFile;
  /** Told how long every batch took to become durable (its synced write), in seconds (metrics). */
  onFsync?: (seconds: number) => void;
  /** The longest a deferred record waits for a flush to share (default 0: deferred records flush at once). */
  deferredFlushMs?: number;
  /** Keep each file this many bytes longer than its data while it is written (DurableFs.openSyncedAppend; default 0: none). */
  preallocateBytes?: number;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class GroupAppender {
  /** Highest seq handed to the OS (readable back, not necessarily durable). */
  writtenSeq: number;
  /** Highest seq known durable. */
  durableSeq: number;
  private queue: QueuedAppend[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private deferredTimer: TimerHandle | undefined;
  private failure: Error | undefined;
  private current: { file: string; handle: AppendHandle } | undefined;
  private readonly counters: AppendStats = { fsyncs: 0, recordsWritten: 0, bytesWritten: 0, largestBatchRecords: 0 };
  private readonly fs: DurableFs;
  private readonly clock: Clock;
  private readonly openFile: OpenAppendFile;

  constructor(private readonly options: GroupAppenderOptions) {
    this.writtenSeq = options.startSeq;
    this.durableSeq = options.startSeq;
    this.fs = options.fs ?? nodeFs;
    this.clock = options.clock ?? realClock;
    this.openFile = options.openFile ?? ((file) => this.fs.openSyncedAppend(file, options.preallocateBytes ?? 0));
  }

  /** The error every record gets since the appender failed or closed, if it did. */
  get failed(): Error | undefined {
    return this.failure;
  }

  stats(): AppendStats {
    return { ...this.counters };
  }

  /** Queues a record; a `deferred` one waits (up to deferredFlushMs) for a flush started by another. */
  enqueue(record: QueuedAppend, deferred = false): void {
    if (this.failure) throw this.failure;
    this.queue.push(record);
    const delayMs = this.options.deferredFlushMs ?? 0;
    if (!deferred || delayMs <= 0) this.scheduleFlush();
    else if (!this.flushing) {
      this.deferredTimer ??= this.clock.setTimer(delayMs, () => {
        this.deferredTimer = undefined;
        this.scheduleFlush();
      });
    }
  }

  /** Starts a flush of everything queued, deferred records included. */
  flush(): void {
    this.scheduleFlush();
  }

  /** Resolves once the record with `seq` (and all before it) is durable; rejects if the appender failed. */
  waitFor(seq: number): Promise<void> {
    if (seq <= this.durableSeq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** Waits for what is queued, then closes the file; later records are refused. */
  async close(): Promise<void> {
    this.scheduleFlush();
    const last = this.queue.at(-1)?.seq ?? this.writtenSeq;
    await this.waitFor(last).catch(() => {});
    const current = this.current;
    this.current = undefined;
    this.failure ??= this.options.closed();
    await current?.handle.close().catch(() => {});
  }

  private scheduleFlush(): void {
    if (this.flushing || this.queue.length === 0 || this.failure) return;
    this.flushing = true;
    // This flush takes every queued record along, deferred ones included.
    this.deferredTimer?.cancel();
    this.deferredTimer = undefined;
    // Deferred, not a microtask: records issued in the same turn of the event loop share a flush.
    this.clock.defer(() => void this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.queue.splice(0, this.options.batchRecordsMax);
        await this.writeBatch(batch);
        this.counters.largestBatchRecords = Math.max(this.counters.largestBatchRecords, batch.length);
        this.durableSeq = batch.at(-1)!.seq;
        this.release();
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.flushing = false;
      // A record queued between the loop's last check and here would otherwise wait forever.
      this.scheduleFlush();
    }
  }

  /** Writes a batch one file at a time; each file's part is durable before the next file is opened. */
  private async writeBatch(batch: QueuedAppend[]): Promise<void> {
    let start = 0;
    while (start < batch.length) {
      const file = batch[start]!.file;
      let end = start;
      while (end < batch.length && batch[end]!.file === file) end++;
      const handle = await this.handleFor(file);
      const bytes = Buffer.concat(batch.slice(start, end).map((r) => r.bytes));
      const syncStart = performance.now();
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      this.writtenSeq = batch[end - 1]!.seq;
      this.counters.recordsWritten += end - start;
      this.counters.bytesWritten += bytes.length;
      this.counters.fsyncs++;
      this.options.onFsync?.((performance.now() - syncStart) / 1000);
      start = end;
    }
  }

  private async handleFor(file: string): Promise<AppendHandle> {
    if (this.current?.file === file) return this.current.handle;
    if (this.current) {
      const old = this.current;
      this.current = undefined;
      await old.handle.close(); // its writes were synced
    }
    const { handle, created } = await this.openFile(file);
    this.current = { file, handle };
    // The new name must be durable before any record in it is acknowledged.
    if (created) await this.fs.fsyncDir(path.dirname(file));
    return handle;
  }

  private release(): void {
    let kept = 0;
    for (const waiter of this.waiters) {
      if (waiter.seq <= this.durableSeq) waiter.resolve();
      else this.waiters[kept++] = waiter;
    }
    this.waiters.length = kept;
  }

  private fail(error: Error): void {
    this.deferredTimer?.cancel();
    this.deferredTimer = undefined;
    this.failure = this.options.failure(error);
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters = [];
    this.queue = [];
    const current = this.current;
    this.current = undefined;
    void current?.handle.close().catch(() => {});
  }
}
