/**
 * The key index checkpoint: a clean close writes the key index (every key's generations and lease) as
 * sealed records, so the next open reads those instead of opening every page — the scan that makes a
 * million-key start-up take half a minute (docs/performance.md, "Start-up").
 *
 * On disk: records keyed 'k' | chunk u32 BE, each sealed at (storeId, mvccIndexCheckpoint, revision,
 * chunk). Chunk 0 is the header — the meta counters it was written at, the page bytes, the number of
 * chunks and keys; chunks 1..n hold keys in key order, `checkpointKeysPerChunk` each.
 *
 * Invariants:
 * - the records exist only while the store is closed: close writes them in one synced batch after
 *   every write and compaction step has settled; open reads them and deletes them, synced, before the
 *   store takes any write, so a checkpoint never describes a store that has changed since;
 * - they are used only if their header names exactly the counters of the meta record, every chunk is
 *   present and opens, and the index they hold passes the key index's own checks; anything else — no
 *   checkpoint, another format, a record that was altered or sealed under a DEK this keyring lacks —
 *   means the full scan (load.ts), which needs nothing from them;
 * - none is written while a physical compaction is unfinished: resuming it needs the superseded pages
 *   the scan finds;
 * - plaintext buffers are wiped once encoded into a record or decoded from one.
 */
import { assert, decodeMsgpack, encodeMsgpack } from '../../base/index.ts';
import { RecordKind } from '../../crypto/index.ts';
import { KeyIndex } from './key-index.ts';
import { SortedKeys } from './sorted-keys.ts';
import { encodeRevisionKey, subMax } from './revision.ts';
import type { StoreState } from './state.ts';

/** Keys per checkpoint record: ~35 bytes each, so a record is about half a MiB of plaintext. */
export const checkpointKeysPerChunk = 16_384;
/** Format 2: each key entry is key, lease, then its generations as KeyIndex.writeGenerations puts them. */
const checkpointFormat = 2;
const checkpointPrefix = 0x6b; // 'k'
/** Bounds covering every checkpoint record. */
export const checkpointKeyRange = { gte: Uint8Array.of(checkpointPrefix), lt: Uint8Array.of(checkpointPrefix + 1) };

/** What a checkpoint brings to the open: the index in key order, each key's lease, the page bytes. */
export interface RestoredIndex {
  keys: string[];
  /** The same keys as an ordered set (built here, where a checkpoint out of order means a scan). */
  order: SortedKeys;
  histories: KeyIndex[];
  /** Keys attached to a lease, and the lease. */
  keyLeases: Map<string, number>;
  pageBytes: number;
}

/** The outcome of reading a checkpoint: the index, or why the open must scan every page. */
export type CheckpointRead = { restored: RestoredIndex } | { unused: string };

function chunkKey(chunk: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = checkpointPrefix;
  new DataView(out.buffer).setUint32(1, chunk);
  return out;
}

function chunkOf(key: Uint8Array): number {
  assert(key.length === 5 && key[0] === checkpointPrefix, 'a checkpoint record key');
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1);
}

function seal(state: StoreState, chunk: number, value: unknown): Uint8Array {
  const plain = encodeMsgpack(value);
  try {
    return state.sealer.seal(plain, { storeId: state.storeId, kind: RecordKind.mvccIndexCheckpoint, index: state.revision, sub: chunk });
  } finally {
    plain.fill(0);
  }
}

function open(state: StoreState, chunk: number, sealed: Uint8Array): unknown {
  const plain = state.sealer.open(sealed, { storeId: state.storeId, kind: RecordKind.mvccIndexCheckpoint, index: state.revision, sub: chunk });
  try {
    // Keys are strings in the index (keys.ts) and here: nothing decoded refers back to the plaintext.
    return decodeMsgpack(plain);
  } finally {
    plain.fill(0);
  }
}

/** The header's counters, in the order written: a checkpoint is used only where they all match. */
function counters(state: StoreState): number[] {
  return [state.applied, state.revision, state.compactRev, state.finishedCompactRev];
}

/**
 * Writes the checkpoint of the index as it stands (MvccStore.close, after every write has settled).
 * Skipped while a physical compaction is unfinished.
 */
export async function writeIndexCheckpoint(state: StoreState): Promise<void> {
  if (state.finishedCompactRev !== state.compactRev) return;
  const batch: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
  let entries: unknown[] = [];
  let keyCount = 0;
  const flush = () => {
    const chunk = batch.length + 1;
    batch.push({ type: 'put', key: chunkKey(chunk), value: seal(state, chunk, entries) });
    entries = [];
  };
  for (const key of state.index.sortedKeys()) {
    entries.push(key, state.leaseTable.leaseOf(key));
    state.index.history(key)!.writeGenerations(entries);
    keyCount++;
    if (keyCount % checkpointKeysPerChunk === 0) flush();
  }
  if (entries.length > 0) flush();
  const header = [checkpointFormat, ...counters(state), state.pageBytes, batch.length, keyCount];
  batch.push({ type: 'put', key: chunkKey(0), value: seal(state, 0, header) });
  await state.db.batch(batch, { sync: true });
}

/**
 * Reads the checkpoint, if one fits the meta record already loaded into `state`, and deletes every
 * checkpoint record (synced) either way. Changes nothing in `state`.
 */
export async function takeIndexCheckpoint(state: StoreState): Promise<CheckpointRead> {
  const records = await state.db.iterator({ ...checkpointKeyRange, fillCache: false }).all();
  if (records.length === 0) return { unused: 'the store holds no index checkpoint (it was not closed cleanly)' };
  try {
    return readCheckpoint(state, records.map(([, sealed]) => sealed), records.map(([key]) => key));
  } catch (error) {
    return { unused: `the index checkpoint is unusable: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await state.db.batch(records.map(([key]) => ({ type: 'del' as const, key })), { sync: true });
  }
}

function readCheckpoint(state: StoreState, sealed: readonly Uint8Array[], recordKeys: readonly Uint8Array[]): CheckpointRead {
  const header = open(state, 0, sealed[0]!);
  assert(Array.isArray(header) && header.length === 8 && header[0] === checkpointFormat && header.every((n) => Number.isSafeInteger(n) && n >= 0),
    'the checkpoint header has a known format');
  const [, applied, revision, compactRev, finishedCompactRev, pageBytes, chunks, keyCount] = header as number[];
  const expected = counters(state);
  if ([applied, revision, compactRev, finishedCompactRev].some((n, i) => n !== expected[i])) {
    return { unused: `the index checkpoint was written at applied index ${applied}, revision ${revision}, not the store's ${state.applied}, ${state.revision}` };
  }
  assert(sealed.length === chunks! + 1 && recordKeys.every((key, i) => chunkOf(key) === i), 'every chunk of the checkpoint is present');
  const keys: string[] = [];
  const histories: KeyIndex[] = [];
  const keyLeases = new Map<string, number>();
  for (let chunk = 1; chunk <= chunks!; chunk++) {
    const entries = open(state, chunk, sealed[chunk]!);
    assert(Array.isArray(entries), `checkpoint chunk ${chunk} holds key entries`);
    for (let i = 0; i < entries.length; i += 3 + 3 * (entries[i + 2] as number)) {
      const key = entries[i] as string;
      const lease = entries[i + 1] as number;
      assert(typeof key === 'string' && Number.isSafeInteger(lease), 'a checkpoint entry names a key and a lease');
      keys.push(key);
      histories.push(KeyIndex.readGenerations(entries, i + 2));
      if (lease !== 0) keyLeases.set(key, lease);
    }
  }
  assert(keys.length === keyCount, 'the checkpoint holds as many keys as its header says');
  // fromSorted checks that the keys strictly ascend.
  return { restored: { keys, order: SortedKeys.fromSorted(keys), histories, keyLeases, pageBytes: pageBytes! } };
}

/** True if a page lies after `revision` (one seek; the scan finds the same while it opens every page). */
export async function holdsPageAfter(state: StoreState, revision: number): Promise<boolean> {
  const after = await state.db.keys({ gt: encodeRevisionKey(revision, subMax), lte: encodeRevisionKey(Number.MAX_SAFE_INTEGER, subMax), limit: 1 }).all();
  return after.length > 0;
}
