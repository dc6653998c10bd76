/**
 * The data of a Raft snapshot as it crosses the wire: the MVCC store's logical records (plaintext,
 * inside the peer TLS connection), re-sealed by the receiver with its own keys. The WAL keeps only
 * snapshot metadata; the store is the state, exported fresh whenever a follower needs it.
 */
import { Packr } from 'msgpackr';
import type { SnapshotRecord } from '../storage/mvcc/index.ts';

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

export async function packSnapshot(records: AsyncIterable<SnapshotRecord>): Promise<Uint8Array> {
  const parts: SnapshotRecord[] = [];
  for await (const record of records) parts.push(record);
  return packr.pack(parts);
}

export async function* unpackSnapshot(data: Uint8Array): AsyncGenerator<SnapshotRecord> {
  const records = packr.unpack(data) as unknown;
  if (!Array.isArray(records)) throw new Error(`snapshot data of ${data.length} bytes is not a record list`);
  for (const record of records as SnapshotRecord[]) yield await Promise.resolve(record);
}
