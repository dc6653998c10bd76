/**
 * The data of a Raft snapshot as it crosses the wire: the MVCC store's logical records (plaintext,
 * inside the peer TLS connection), re-sealed by the receiver with its own keys. The WAL keeps only
 * snapshot metadata; the store is the state, exported fresh whenever a follower needs it.
 */
import { decodeMsgpack, encodeMsgpack } from '../base/index.ts';
import type { SnapshotRecord } from '../storage/mvcc/index.ts';

export async function packSnapshot(records: AsyncIterable<SnapshotRecord>): Promise<Uint8Array> {
  const parts: SnapshotRecord[] = [];
  for await (const record of records) parts.push(record);
  return encodeMsgpack(parts);
}

export async function* unpackSnapshot(data: Uint8Array): AsyncGenerator<SnapshotRecord> {
  const records = decodeMsgpack(data);
  if (!Array.isArray(records)) throw new Error(`snapshot data of ${data.length} bytes is not a record list`);
  for (const record of records as SnapshotRecord[]) yield await Promise.resolve(record);
}
