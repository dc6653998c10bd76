/**
 * The simulator's LevelDB: memory-level (the abstract-level family classic-level belongs to) for reads,
 * with every write first appended to a log file on the simulated disk, as LevelDB does: a write
 * appends one record (the whole batch, atomically) to `<dir>/LOG` and then changes the in-memory
 * tables; a write with `sync` fdatasyncs the log first, which makes it and every earlier write durable;
 * writes are applied one at a time, in order. Opening replays the longest intact prefix of the log (a
 * torn or lost tail is dropped and cut off) and fsyncs the directory when it creates the log, as
 * LevelDB syncs its directory when it creates its files. The directory itself is created with a plain
 * mkdir: making its name durable in the parent is the caller's business, as with LevelDB.
 *
 * After a failed write the database refuses every later one (LevelDB's background error).
 *
 * Log record: u32 payload bytes | u32 crc32(payload) | payload; payload: per operation u8 kind (1 put,
 * 2 del) | u32 key bytes | key | (put) u32 value bytes | value.
 */
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { MemoryLevel } from 'memory-level';
import type { DurableFs, WriteHandle } from '../../../src/durable/index.ts';

interface Operation {
  type: 'put' | 'del';
  key: Uint8Array;
  value?: Uint8Array;
}

/** The file system the simulated LevelDB writes its log through: the seam, plus plain (unsynced) appends. */
export type AppendableFs = DurableFs & {
  openAppend(file: string, fromLength?: boolean): Promise<{ handle: WriteHandle; created: boolean }>;
};

type Batch = (this: MemoryLevel<Uint8Array, Uint8Array>, operations: Operation[], options: object) => Promise<void>;
const memoryBatch = (MemoryLevel.prototype as unknown as { _batch: Batch })._batch;

export const logFileName = 'LOG';

export class PowerLossLevel extends MemoryLevel<Uint8Array, Uint8Array> {
  private handle: WriteHandle | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;

  constructor(private readonly fs: AppendableFs, private readonly dir: string) {
    super({ keyEncoding: 'view', valueEncoding: 'view', storeEncoding: 'view' });
  }

  async _open(): Promise<void> {
    await this.fs.mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, logFileName);
    let bytes: Buffer | undefined;
    try {
      bytes = await this.fs.readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (bytes !== undefined) {
      const { operations, intactBytes } = decodeLog(bytes);
      await memoryBatch.call(this, operations, {});
      if (intactBytes < bytes.length) await this.fs.truncateDurably(file, intactBytes);
    }
    const { handle, created } = await this.fs.openAppend(file);
    if (created) await this.fs.fsyncDir(this.dir);
    this.handle = handle;
  }

  async _close(): Promise<void> {
    await this.tail.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  _put(key: Uint8Array, value: Uint8Array, options: { sync?: boolean }): Promise<void> {
    return this.write([{ type: 'put', key, value }], options);
  }

  _del(key: Uint8Array, options: { sync?: boolean }): Promise<void> {
    return this.write([{ type: 'del', key }], options);
  }

  _batch(operations: Operation[], options: { sync?: boolean }): Promise<void> {
    return this.write(operations, options);
  }

  private write(operations: Operation[], options: { sync?: boolean }): Promise<void> {
    const run = this.tail.then(async () => {
      if (this.failure !== undefined) throw this.failure;
      const handle = this.handle;
      if (handle === undefined) throw new Error('the database is not open');
      const record = encodeRecord(operations);
      try {
        let written = 0;
        while (written < record.length) written += (await handle.write(record, written, record.length - written)).bytesWritten;
        if (options.sync === true) await handle.datasync();
      } catch (error) {
        this.failure = error as Error;
        throw error;
      }
      await memoryBatch.call(this, operations, {});
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

function encodeRecord(operations: readonly Operation[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const op of operations) {
    const head = Buffer.alloc(5);
    head.writeUInt8(op.type === 'put' ? 1 : 2, 0);
    head.writeUInt32BE(op.key.length, 1);
    parts.push(head, op.key);
    if (op.type === 'put') {
      const value = op.value ?? new Uint8Array(0);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(value.length, 0);
      parts.push(length, value);
    }
  }
  const payload = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

/** The operations of the longest run of intact records from the start, and where that run ends. */
export function decodeLog(bytes: Buffer): { operations: Operation[]; intactBytes: number } {
  const operations: Operation[] = [];
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const end = offset + 8 + length;
    if (length === 0 || end > bytes.length) break;
    const payload = bytes.subarray(offset + 8, end);
    if (crc32(payload) !== bytes.readUInt32BE(offset + 4)) break;
    const parsed = decodePayload(payload);
    if (parsed === undefined) break;
    operations.push(...parsed);
    offset = end;
  }
  return { operations, intactBytes: offset };
}

function decodePayload(payload: Buffer): Operation[] | undefined {
  const out: Operation[] = [];
  let at = 0;
  const take = (n: number): Uint8Array | undefined => {
    if (at + n > payload.length) return undefined;
    const part = payload.subarray(at, at + n);
    at += n;
    return Uint8Array.from(part);
  };
  while (at < payload.length) {
    if (at + 5 > payload.length) return undefined;
    const kind = payload.readUInt8(at);
    const keyLength = payload.readUInt32BE(at + 1);
    at += 5;
    const key = take(keyLength);
    if (key === undefined || (kind !== 1 && kind !== 2)) return undefined;
    if (kind === 2) {
      out.push({ type: 'del', key });
      continue;
    }
    if (at + 4 > payload.length) return undefined;
    const valueLength = payload.readUInt32BE(at);
    at += 4;
    const value = take(valueLength);
    if (value === undefined) return undefined;
    out.push({ type: 'put', key, value });
  }
  return out;
}
