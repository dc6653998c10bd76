/**
 * The snapshot stream a member sends to `coffer snapshot save` (the body of
 * `POST /apis/coffer.dev/v1/snapshot`, inside mutual TLS): length-prefixed msgpack frames —
 * `['begin', {format, clusterId, memberId}]`, then `['records', [record…]]` frames, then
 * `['end', recordCount]`. The records are plaintext here (the operator's machine encrypts them); the
 * end frame tells a complete stream from one the member or the network cut short.
 */
import { backupChunkBytesTarget, snapshotStreamFrameBytesMax } from '../../config/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';
import { ByteReader } from './byte-reader.ts';
import { BackupError } from './errors.ts';
import { pack, recordBytes, recordFromWire, recordToWire, unpack, wipeRecords } from './records.ts';

export const snapshotStreamContentType = 'application/vnd.coffer.snapshot-stream';
const streamFormat = 1;

export interface StreamBegin {
  clusterId: string;
  memberId: number;
}

function frame(value: unknown): Uint8Array {
  const body = pack(value);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  body.fill(0);
  return out;
}

/** The frames of a snapshot stream; record values are wiped once framed. */
export async function* encodeSnapshotStream(begin: StreamBegin, records: AsyncIterable<SnapshotRecord>): AsyncGenerator<Uint8Array> {
  yield frame(['begin', { format: streamFormat, clusterId: begin.clusterId, memberId: begin.memberId }]);
  let batch: SnapshotRecord[] = [];
  let bytes = 0;
  let count = 0;
  for await (const record of records) {
    batch.push(record);
    bytes += recordBytes(record);
    count++;
    if (bytes >= backupChunkBytesTarget) {
      const out = frame(['records', batch.map(recordToWire)]);
      wipeRecords(batch);
      batch = [];
      bytes = 0;
      yield out;
    }
  }
  if (batch.length > 0) {
    const out = frame(['records', batch.map(recordToWire)]);
    wipeRecords(batch);
    yield out;
  }
  yield frame(['end', count]);
}

/** Reads a snapshot stream: `begin()` first, then `records()`, which throws unless the stream ends properly. */
export class SnapshotStreamReader {
  private readonly reader: ByteReader;
  private started: StreamBegin | undefined;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.reader = new ByteReader(source);
  }

  async begin(): Promise<StreamBegin> {
    const [kind, body] = await this.next();
    const b = body as Record<string, unknown> | undefined;
    if (kind !== 'begin' || typeof b !== 'object' || b === null || b.format !== streamFormat || typeof b.clusterId !== 'string' || typeof b.memberId !== 'number') {
      throw bad('it does not start with a begin frame of a known format');
    }
    this.started = { clusterId: b.clusterId, memberId: b.memberId };
    return this.started;
  }

  async *records(): AsyncGenerator<SnapshotRecord> {
    if (this.started === undefined) throw new TypeError('begin() first');
    let count = 0;
    try {
      for (;;) {
        const [kind, body] = await this.next();
        if (kind === 'end') {
          if (body !== count) throw bad(`its end frame counts ${String(body)} records, ${count} arrived`);
          if (!(await this.reader.atEnd())) throw bad('there are bytes after its end frame');
          return;
        }
        if (kind !== 'records' || !Array.isArray(body)) throw bad(`it holds an unknown frame ${JSON.stringify(kind)}`);
        for (const item of body as unknown[]) {
          const record = recordFromWire(item);
          if (record === undefined) throw bad('it holds a malformed record');
          count++;
          yield record;
        }
      }
    } finally {
      await this.reader.close();
    }
  }

  private async next(): Promise<[unknown, unknown]> {
    const length = await this.reader.read(4);
    if (length === undefined || length.length < 4) throw bad('it ended early (the member stopped or the connection broke)');
    const size = new DataView(length.buffer, length.byteOffset, 4).getUint32(0);
    if (size > snapshotStreamFrameBytesMax) throw bad(`a frame of ${size} bytes exceeds snapshotStreamFrameBytesMax (${snapshotStreamFrameBytesMax})`);
    const body = await this.reader.read(size);
    if (body === undefined || body.length < size) throw bad('it ended early (the member stopped or the connection broke)');
    let value: unknown;
    try {
      value = unpack(body);
    } catch {
      throw bad('a frame does not decode');
    } finally {
      body.fill(0);
    }
    if (!Array.isArray(value) || value.length !== 2) throw bad('a frame is not [kind, body]');
    return [value[0], value[1]];
  }
}

function bad(what: string): BackupError {
  return new BackupError('E_BACKUP_STREAM', `the member's snapshot stream is not usable: ${what}`);
}
