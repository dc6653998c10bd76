/**
 * The key index checkpoint: the key index (every key's generations and lease) as of a revision R, as
 * sealed records, so an open reads those and then opens only the pages written after R, instead of
 * every page — the scan that makes a million-key start-up take half a minute (docs/performance.md,
 * "Start-up"). A clean close writes one, and a running store writes one in the background as pages
 * accumulate (checkpointer.ts), so a crash costs the pages written since, not the whole store.
 *
 * On disk: records keyed 'k' | chunk u32 BE. Chunk 0 is the header, sealed at (storeId,
 * mvccIndexCheckpoint, 0, 0) — R, the compact revision, the page bytes and count as of R, the number of
 * chunks and keys; chunks 1..n hold keys in key order, `checkpointKeysPerChunk` each, sealed at
 * (storeId, mvccIndexCheckpoint, R, chunk).
 *
 * Invariants:
 * - a checkpoint at R holds each key's history exactly as it stood at R (later changes left out, keys
 *   created after R absent), whatever was written while it was being built; a key's lease is the one
 *   it holds when its chunk is built — a lease changes only with a page of the key, and the checkpoint's
 *   batch goes through the write queue, so every such page is written before it and replayed after it;
 * - it is written only while no physical compaction is unfinished and none starts while it is built,
 *   and used only while the store's compact revisions are the ones it was written at: the pages after
 *   R then hold every change since, and no page it names has been deleted;
 * - anything else — no checkpoint, another format, a record altered, missing or extra, one sealed under
 *   a DEK this keyring lacks, R after the store's revision — means the full scan (load.ts), which needs
 *   nothing from it; an unusable checkpoint is deleted;
 * - plaintext buffers are wiped once encoded into a record or decoded from one.
 */
import { assert, decodeMsgpack, encodeMsgpack } from '../../base/index.ts';
import { RecordKind } from '../../crypto/index.ts';
import { KeyIndex } from './key-index.ts';
import { SortedKeys } from './sorted-keys.ts';
import { writeBatch } from './level.ts';
import type { StoreState } from './state.ts';

/** Keys per checkpoint record: ~35 bytes each, so a record is about half a MiB of plaintext. */
export const checkpointKeysPerChunk = 16_384;
/** Format 3: each key entry is key, lease, then its generations as KeyIndex.writeGenerations puts them. */
const checkpointFormat = 3;
const checkpointPrefix = 0x6b; // 'k'
/** Bounds covering every checkpoint record. */
export const checkpointKeyRange = { gte: Uint8Array.of(checkpointPrefix), lt: Uint8Array.of(checkpointPrefix + 1) };

/** What a checkpoint brings to the open: the index as of a revision in key order, each key's lease, the pages as of then. */
export interface RestoredIndex {
  /** The revision the index is of: pages after it are replayed (load.ts). */
  revision: number;
  keys: string[];
  /** The same keys as an ordered set (built here, where a checkpoint out of order means a scan). */
  order: SortedKeys;
  histories: KeyIndex[];
  /** Keys attached to a lease, and the lease. */
  keyLeases: Map<string, number>;
  pageBytes: number;
  pageCount: number;
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

/** Seals a record at (revision, chunk): the header at (0, 0), a chunk of keys at (R, its number). */
function seal(state: StoreState, revision: number, chunk: number, value: unknown): Uint8Array {
  const plain = encodeMsgpack(value);
  try {
    return state.sealer.seal(plain, { storeId: state.storeId, kind: RecordKind.mvccIndexCheckpoint, index: revision, sub: chunk });
  } finally {
    plain.fill(0);
  }
}

function open(state: StoreState, revision: number, chunk: number, sealed: Uint8Array): unknown {
  const plain = state.sealer.open(sealed, { storeId: state.storeId, kind: RecordKind.mvccIndexCheckpoint, index: revision, sub: chunk });
  try {
    // Keys are strings in the index (keys.ts) and here: nothing decoded refers back to the plaintext.
    return decodeMsgpack(plain);
  } finally {
    plain.fill(0);
  }
}

/**
 * Notes that the checkpoint on disk no longer serves (the store compacted, or it was deleted): an open
 * after a crash would open every page, until the next checkpoint is written.
 */
export function forgetIndexCheckpoint(state: StoreState): void {
  state.checkpointRevision = undefined;
  state.pagesSinceCheckpoint = state.pageCount;
}

/**
 * Writes the checkpoint of the index as of the current revision, unless a physical compaction is
 * unfinished or the one on disk already describes this revision. `background`: the store is running —
 * build it a chunk at a time with a yield between chunks, give up if the store closes, fails or
 * compacts meanwhile, and write it through the write queue.
 */
export async function writeIndexCheckpoint(state: StoreState, background: boolean): Promise<void> {
  if (state.finishedCompactRev !== state.compactRev || state.checkpointRevision === state.revision) return;
  const at = { revision: state.revision, compactRev: state.compactRev, pageBytes: state.pageBytes, pageCount: state.pageCount, pagesSince: state.pagesSinceCheckpoint };
  const abandoned = () => background && (state.closed || state.failed !== undefined || state.compactRev !== at.compactRev);
  const chunks: Uint8Array[] = [];
  let entries: unknown[] = [];
  let keyCount = 0;
  const flush = () => {
    chunks.push(seal(state, at.revision, chunks.length + 1, entries));
    entries = [];
  };
  // Keys only ever join the index after R, or leave it through a compaction: the keys of now are enough.
  for (const key of state.index.sortedKeys()) {
    const history = state.index.history(key);
    if (history === undefined) continue;
    const mark = entries.length;
    entries.push(key, state.leaseTable.leaseOf(key));
    if (!history.writeGenerations(entries, at.revision)) {
      entries.length = mark;
      continue;
    }
    keyCount++;
    if (keyCount % checkpointKeysPerChunk !== 0) continue;
    flush();
    if (background) {
      await state.yieldToEventLoop();
      if (abandoned()) return;
    }
  }
  if (entries.length > 0) flush();
  const header = [checkpointFormat, at.revision, at.compactRev, at.pageBytes, at.pageCount, chunks.length, keyCount];
  const write = async (): Promise<void> => {
    if (abandoned()) return;
    const stale = (await state.readers.during(() => state.db.keys(checkpointKeyRange).all())).filter((key) => chunkOf(key) > chunks.length);
    await writeBatch(state.db, [
      ...stale.map((key) => ({ type: 'del' as const, key })),
      ...chunks.map((value, i) => ({ type: 'put' as const, key: chunkKey(i + 1), value })),
      { type: 'put' as const, key: chunkKey(0), value: seal(state, 0, 0, header) },
    ], { sync: true });
    state.checkpointRevision = at.revision;
    state.pagesSinceCheckpoint -= at.pagesSince;
  };
  return background ? state.exclusive(write) : write();
}

/**
 * Reads the checkpoint, if one fits the meta record already loaded into `state` (deleting it if it does
 * not). Changes nothing in `state` but its note of the checkpoint on disk.
 */
export async function readIndexCheckpoint(state: StoreState): Promise<CheckpointRead> {
  const records = await state.db.iterator({ ...checkpointKeyRange, fillCache: false }).all();
  if (records.length === 0) return { unused: 'the store holds no index checkpoint' };
  let read: CheckpointRead;
  try {
    read = readCheckpoint(state, records.map(([, sealed]) => sealed), records.map(([key]) => key));
  } catch (error) {
    read = { unused: `the index checkpoint is unusable: ${error instanceof Error ? error.message : String(error)}` };
  }
  if ('restored' in read) state.checkpointRevision = read.restored.revision;
  else await writeBatch(state.db, records.map(([key]) => ({ type: 'del' as const, key })));
  return read;
}

function readCheckpoint(state: StoreState, sealed: readonly Uint8Array[], recordKeys: readonly Uint8Array[]): CheckpointRead {
  const header = open(state, 0, 0, sealed[0]!);
  assert(Array.isArray(header) && header.length === 7 && header[0] === checkpointFormat && header.every((n) => Number.isSafeInteger(n) && n >= 0),
    'the checkpoint header has a known format');
  const [, revision, compactRev, pageBytes, pageCount, chunks, keyCount] = header as number[];
  if (revision! > state.revision) return { unused: `the index checkpoint is of revision ${revision}, after the store's ${state.revision}` };
  if (compactRev !== state.compactRev || state.finishedCompactRev !== state.compactRev) {
    return { unused: `the store was compacted since its index checkpoint (at compact revision ${compactRev}, now ${state.compactRev})` };
  }
  assert(sealed.length === chunks! + 1 && recordKeys.every((key, i) => chunkOf(key) === i), 'every chunk of the checkpoint is present');
  const keys: string[] = [];
  const histories: KeyIndex[] = [];
  const keyLeases = new Map<string, number>();
  for (let chunk = 1; chunk <= chunks!; chunk++) {
    const entries = open(state, revision!, chunk, sealed[chunk]!);
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
  return { restored: { revision: revision!, keys, order: SortedKeys.fromSorted(keys), histories, keyLeases, pageBytes: pageBytes!, pageCount: pageCount! } };
}
