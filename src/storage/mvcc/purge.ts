/**
 * Purging: making LevelDB's files hold no version of a record the store no longer holds, so that what
 * was overwritten or deleted before the purge — a page's version from before its re-encryption, a page
 * physical compaction deleted, a dropped index checkpoint — is in no file of the store's directory once
 * it returns. Key rotation purges before it retires a DEK (storage/barrier/member-keys.ts): else whoever
 * later gets the old DEK and reads the disk decrypts those versions, current values among them.
 *
 * Why LevelDB's CompactRange alone does not do it: LevelDB writes each put and delete to its journal
 * (*.log), later into tables (*.ldb), and drops a superseded version only when one compaction has it and
 * the newer version among its inputs while no snapshot reads it — a compaction that runs while a
 * snapshot reads it keeps both in its output. CompactRange compacts each level into the next, but the
 * deepest level is only ever an output: a table there is rewritten only where a table above overlaps it,
 * so one that kept both versions keeps them (test/integration/mvcc/purge.test.ts shows it). A journal
 * goes once its memtable is in a table; a replaced table once no iterator reads it, at the end of
 * LevelDB's next compaction.
 *
 * A pass:
 * 1. waits for the store's readers open now to end (readers.ts): their snapshots read superseded
 *    versions, and their iterators read tables an earlier pass replaced;
 * 2. touches every table: writes again, as the store holds it, the record at the table's first key (or
 *    deletes that key where the store holds none) — a no-op for the store, made in the write queue
 *    while no physical compaction is deleting pages, so nothing deleted comes back; the memtable now
 *    overlaps every table;
 * 3. compacts every key (level.ts, compactWholeDatabase): the memtable goes to a table and its journal is
 *    deleted, and every table is an input or overlapped, so rewritten without what no snapshot reads.
 * A pass is clean if every table listed before it was replaced and no table went below its deepest
 * level (a background compaction LevelDB ran between two of its steps can move a superseded version
 * there, ahead of the newer one). After a clean pass a last one waits for the readers again and compacts:
 * LevelDB then deletes the tables those readers kept. Readers that began after the first wait see every
 * version the purge removes as superseded already (it was before the purge began), so they keep none.
 */
import { purgePassesMax, purgeTouchBatchKeysMax } from '../../config/index.ts';
import type { PhysicalCompaction } from './compaction.ts';
import { compactWholeDatabase, deepestLevel, tableFiles, writeBatch } from './level.ts';
import type { StoreState } from './state.ts';

/** How a purge ended: done, or why not (nothing then promised about LevelDB's files). */
export type PurgeResult = { purged: true } | { purged: false; why: string };

/** The deepest level CompactRange compacts into when no table lies deeper (LevelDB's db_impl.cc: max_level_with_files starts at 1). */
const compactRangeLevelMin = 1;

/** MvccStore.purge. `readersWaitMs`: how long each pass waits for the readers open at its start. */
export async function purge(state: StoreState, compaction: PhysicalCompaction, readersWaitMs: number): Promise<PurgeResult> {
  state.checkUsable();
  for (let pass = 1; pass <= purgePassesMax; pass++) {
    if (!(await state.readers.ended(state.clock, readersWaitMs))) {
      return { purged: false, why: `a read of the store (a snapshot stream, a backup, a long range) stayed open over ${readersWaitMs} ms` };
    }
    const before = tableFiles(state.db);
    await touch(state, compaction, before.map((table) => table.firstKey));
    await compactWholeDatabase(state.db);
    const after = tableFiles(state.db);
    const newest = before.reduce((max, table) => Math.max(max, table.number), -1);
    const clean = after.every((table) => table.number > newest)
      && deepestLevel(after) <= Math.max(compactRangeLevelMin, deepestLevel(before));
    if (!clean) continue;
    if (!(await state.readers.ended(state.clock, readersWaitMs))) {
      return { purged: false, why: `a read of the store that began during the purge stayed open over ${readersWaitMs} ms` };
    }
    await compactWholeDatabase(state.db);
    return { purged: true };
  }
  return { purged: false, why: `LevelDB still held tables from before the last of ${purgePassesMax} passes` };
}

/** Writes the record at each of `keys` again as the store holds it (or deletes the key where it holds none), in batches in the write queue. */
async function touch(state: StoreState, compaction: PhysicalCompaction, keys: readonly Uint8Array[]): Promise<void> {
  let next = 0;
  while (next < keys.length) {
    await compaction.settled();
    next = await state.exclusive(async () => {
      state.checkUsable();
      // Pages physical compaction is deleting (outside the write queue) would come back if written now.
      if (state.finishedCompactRev !== state.compactRev) return next;
      const batch = keys.slice(next, next + purgeTouchBatchKeysMax);
      const values = await state.db.getMany([...batch]);
      await writeBatch(state.db, batch.map((key, i) => {
        const value = values[i];
        return value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value };
      }), { sync: state.sync });
      return next + batch.length;
    });
  }
}
