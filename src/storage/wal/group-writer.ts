/**
 * Group commit. Records are queued in order, already sealed and framed, each naming its segment file.
 * One flush loop writes whatever is queued (up to walFsyncBatchRecordsMax records) and covers it with one
 * fdatasync; appends that arrive while that fdatasync is in flight wait in the queue for the next one.
 * A waiter learns its record is durable only after the fdatasync covering it (and, for a new segment,
 * the directory fsync) has returned.
 *
 * Invariants:
 * - Records reach disk in queue order; `durableSeq` only grows and every record with seq <= durableSeq
 *   is on stable storage.
 * - After any write or fsync failure the writer is unusable: the page cache may hold data that never
 *   reached the disk, so carrying on could acknowledge lost records ("fsyncgate"). The member restarts.
 */
import { performance } from 'node:perf_hooks';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { walFsyncBatchRecordsMax } from '../../config/index.ts';
import { WalUnusableError } from './errors.ts';
import { fsyncDir } from './files.ts';

export interface QueuedRecord {
  seq: number;
  segmentFile: string;
  frame: Uint8Array;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface WriterStats {
  fsyncs: number;
  recordsWritten: number;
  bytesWritten: number;
  largestBatchRecords: number;
}

export class GroupWriter {
  /** Highest seq handed to the OS (readable back, not necessarily durable). */
  writtenSeq = 0;
  /** Highest seq known durable. */
  durableSeq = 0;
  private queue: QueuedRecord[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private failure: WalUnusableError | undefined;
  private current: { file: string; handle: fs.FileHandle } | undefined;
  private readonly counters: WriterStats = { fsyncs: 0, recordsWritten: 0, bytesWritten: 0, largestBatchRecords: 0 };

  /** Told the duration of every fdatasync, in seconds (metrics). */
  onFsync: ((seconds: number) => void) | undefined;

  constructor(startSeq: number) {
    this.writtenSeq = startSeq;
    this.durableSeq = startSeq;
  }

  enqueue(record: QueuedRecord): void {
    if (this.failure) throw this.failure;
    this.queue.push(record);
    if (!this.flushing) {
      this.flushing = true;
      // setImmediate, not a microtask: appends issued in the same turn of the event loop share the batch.
      setImmediate(() => void this.flushLoop());
    }
  }

  /** Resolves once the record with `seq` (and everything before it) is durable. */
  waitFor(seq: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  stats(): WriterStats {
    return { ...this.counters };
  }

  get unusable(): WalUnusableError | undefined {
    return this.failure;
  }

  async close(): Promise<void> {
    const last = this.queue.at(-1)?.seq ?? this.writtenSeq;
    await this.waitFor(last).catch(() => {});
    await this.current?.handle.close();
    this.current = undefined;
    this.failure ??= new WalUnusableError('the WAL is closed');
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.queue.splice(0, walFsyncBatchRecordsMax);
        await this.writeBatch(batch);
        this.counters.fsyncs++;
        this.counters.largestBatchRecords = Math.max(this.counters.largestBatchRecords, batch.length);
        this.durableSeq = batch.at(-1)!.seq;
        this.release();
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.flushing = false;
      // A record queued between the loop's last check and here would otherwise wait forever.
      if (this.queue.length > 0 && !this.failure) {
        this.flushing = true;
        setImmediate(() => void this.flushLoop());
      }
    }
  }

  /** Writes a batch, one group per segment; every segment left behind is fdatasync'd before the next opens. */
  private async writeBatch(batch: QueuedRecord[]): Promise<void> {
    let start = 0;
    while (start < batch.length) {
      const file = batch[start]!.segmentFile;
      let end = start;
      while (end < batch.length && batch[end]!.segmentFile === file) end++;
      const handle = await this.segmentHandle(file);
      const bytes = Buffer.concat(batch.slice(start, end).map((r) => r.frame));
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      this.writtenSeq = batch[end - 1]!.seq;
      this.counters.recordsWritten += end - start;
      this.counters.bytesWritten += bytes.length;
      const syncStart = performance.now();
      await handle.datasync();
      this.onFsync?.((performance.now() - syncStart) / 1000);
      start = end;
    }
  }

  private async segmentHandle(file: string): Promise<fs.FileHandle> {
    if (this.current?.file === file) return this.current.handle;
    if (this.current) {
      // Already fdatasync'd by writeBatch before we got here.
      await this.current.handle.close();
      this.current = undefined;
    }
    let handle: fs.FileHandle;
    let created = true;
    try {
      handle = await fs.open(file, 'ax', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      handle = await fs.open(file, 'a', 0o600);
      created = false;
    }
    this.current = { file, handle };
    // The new name must be durable before any record in it is acknowledged.
    if (created) await fsyncDir(path.dirname(file));
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
    this.failure = new WalUnusableError(`WAL write failed; the member must restart: ${error.message}`, { cause: error });
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters = [];
    this.queue = [];
  }
}
