/**
 * Group commit for audit lines. Lines are queued in chain order, each naming its file; one flush loop
 * writes whatever is queued (up to auditFsyncBatchRecordsMax lines) and covers it with one fdatasync,
 * so many concurrent records cost one disk flush. A waiter hears "durable" only after the fdatasync
 * covering its line (and, for a new file, the directory fsync) returned.
 *
 * Invariants:
 * - Lines reach disk in queue order; durableSeq only grows, and every line with seq <= durableSeq is on
 *   stable storage.
 * - After any open, write or fsync failure the appender is failed for good: the page cache may hold
 *   lines that never reached the disk, so carrying on could acknowledge lost records. Every waiting
 *   and later record is rejected (fail closed); the member reopens the log to recover.
 *
 * `openFile` is the deliberate seam for failure tests: production opens real files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { auditFsyncBatchRecordsMax } from '../config/index.ts';
import { AuditUnavailableError } from './errors.ts';
import { fsyncDir } from './files.ts';

/** The part of a file handle the appender uses. */
export interface AppendHandle {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** Opens `file` for appending, creating it (mode 0600) if needed; `created` says whether it was new. */
export type OpenAppendFile = (file: string) => Promise<{ handle: AppendHandle; created: boolean }>;

export const openRealAppendFile: OpenAppendFile = async (file) => {
  try {
    return { handle: await fs.open(file, 'ax', 0o600), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { handle: await fs.open(file, 'a', 0o600), created: false };
  }
};

export interface QueuedLine {
  seq: number;
  file: string;
  bytes: Uint8Array;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Appender {
  durableSeq: number;
  fsyncs = 0;
  private queue: QueuedLine[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private failure: AuditUnavailableError | undefined;
  private current: { file: string; handle: AppendHandle } | undefined;

  constructor(startSeq: number, private readonly openFile: OpenAppendFile) {
    this.durableSeq = startSeq;
  }

  get failed(): AuditUnavailableError | undefined {
    return this.failure;
  }

  enqueue(line: QueuedLine): void {
    if (this.failure) throw this.failure;
    this.queue.push(line);
    if (!this.flushing) {
      this.flushing = true;
      // setImmediate, not a microtask: records issued in the same turn of the event loop share a flush.
      setImmediate(() => void this.flushLoop());
    }
  }

  /** Resolves once the line with `seq` (and all before it) is durable; rejects if the appender failed. */
  waitFor(seq: number): Promise<void> {
    if (seq <= this.durableSeq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  async close(): Promise<void> {
    const last = this.queue.at(-1)?.seq ?? this.durableSeq;
    await this.waitFor(last).catch(() => {});
    const current = this.current;
    this.current = undefined;
    this.failure ??= new AuditUnavailableError('the audit log is closed');
    await current?.handle.close().catch(() => {});
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.queue.splice(0, auditFsyncBatchRecordsMax);
        await this.writeBatch(batch);
        this.durableSeq = batch.at(-1)!.seq;
        this.release();
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.flushing = false;
      // A line queued between the loop's last check and here would otherwise wait forever.
      if (this.queue.length > 0 && !this.failure) {
        this.flushing = true;
        setImmediate(() => void this.flushLoop());
      }
    }
  }

  /** Writes a batch one file at a time; each file is fdatasync'd before the next is opened. */
  private async writeBatch(batch: QueuedLine[]): Promise<void> {
    let start = 0;
    while (start < batch.length) {
      const file = batch[start]!.file;
      let end = start;
      while (end < batch.length && batch[end]!.file === file) end++;
      const handle = await this.handleFor(file);
      const bytes = Buffer.concat(batch.slice(start, end).map((l) => l.bytes));
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      await handle.datasync();
      this.fsyncs++;
      start = end;
    }
  }

  private async handleFor(file: string): Promise<AppendHandle> {
    if (this.current?.file === file) return this.current.handle;
    if (this.current) {
      const old = this.current;
      this.current = undefined;
      await old.handle.close(); // already fdatasync'd by writeBatch
    }
    const { handle, created } = await this.openFile(file);
    this.current = { file, handle };
    // The new name must be durable before any line in it is acknowledged.
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
    const code = (error as NodeJS.ErrnoException).code;
    this.failure = new AuditUnavailableError(
      `audit record could not be made durable${code ? ` (${code})` : ''}; requests fail until the audit log is reopened: ${error.message}`,
      { cause: error },
    );
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters = [];
    this.queue = [];
    const current = this.current;
    this.current = undefined;
    void current?.handle.close().catch(() => {});
  }
}
