/**
 * The write path's disk side: runs a batch of operations through the applier (apply.ts), writes its
 * pages, lease records and meta record in ONE LevelDB batch, and only then makes the new revision
 * visible, tells the watch hub and schedules the physical compaction the batch asked for.
 *
 * Invariants (store.ts, "Ordering", rules 1-2): every method here runs inside the write queue; the
 * applied index and the revision move only after the write succeeds. A failed write leaves the index
 * ahead of disk, and a failed sync leaves writes the disk may never get: either fails the store for good
 * (E_FAILED, or the E_INTEGRITY of a page that did not open).
 */
import { performance } from 'node:perf_hooks';
import { assert } from '../../base/index.ts';
import { type ApplyResult, BatchApplier } from './apply.ts';
import type { IndexCheckpointer } from './checkpointer.ts';
import type { PhysicalCompaction } from './compaction.ts';
import { forgetIndexCheckpoint } from './index-checkpoint.ts';
import { MvccError } from './errors.ts';
import { encodeLeaseKey, sealLease } from './lease-record.ts';
import { type BatchOp, writeBatch } from './level.ts';
import { sealMeta, sealPage } from './page.ts';
import { readPagesCached } from './reads.ts';
import { encodeRevisionKey, metaRecordKey } from './revision.ts';
import type { StoreState } from './state.ts';
import type { WriteOp } from './types.ts';
import type { WatchHub } from './watch.ts';

export class BatchWriter {
  constructor(
    private readonly state: StoreState,
    private readonly hub: WatchHub,
    private readonly compaction: PhysicalCompaction,
    private readonly checkpointer: IndexCheckpointer,
    /** Told the duration of every batch written, in seconds. */
    private readonly onCommit: ((seconds: number) => void) | undefined,
  ) {}

  /** Applies `ops` as of Raft log index `appliedIndex` (MvccStore.applyBatch); run in the write queue. */
  async apply(appliedIndex: number, ops: readonly WriteOp[]): Promise<ApplyResult[]> {
    const state = this.state;
    state.checkUsable();
    assert(appliedIndex >= state.applied, `applied index ${appliedIndex} goes back from ${state.applied}`);
    const applier = new BatchApplier(
      {
        index: state.index,
        leases: state.leaseTable,
        readPage: async (main, sub) => (await readPagesCached(state, [{ main, sub }]))[0]!,
        wantsPrevKv: () => this.hub.wantsPrevKv(),
        compactRevision: () => state.compactRev,
        markCompacted: (revision) => {
          state.compactRev = revision;
        },
        yieldToEventLoop: () => state.yieldToEventLoop(),
      },
      state.revision,
    );
    const results: ApplyResult[] = [];
    try {
      for (const op of ops) results.push(await applier.apply(op));
      const unchanged = applier.revision === state.revision && appliedIndex === state.applied && applier.compaction === undefined;
      if (unchanged && applier.leaseWrites.size === 0) return results;
      const batch = this.sealBatch(applier, appliedIndex);
      const commitStart = performance.now();
      await writeBatch(state.db, batch, { sync: state.sync });
      for (let i = 0; i < applier.pages.length; i++) {
        const put = batch[i]!;
        if (put.type !== 'put') continue;
        state.pageBytes += put.key.length + put.value.length;
        state.pageCount++;
        state.pages.set(applier.pages[i]!.main, applier.pages[i]!.sub, put.value);
      }
      this.onCommit?.((performance.now() - commitStart) / 1000);
    } catch (error) {
      // The index may hold changes that are not on disk; only a reopen (rebuild from disk) is safe.
      throw state.failWith(error instanceof MvccError && error.code === 'E_INTEGRITY' ? error
        : new MvccError('E_FAILED', 'a write to the store failed; reopen it', { cause: error }));
    }
    state.applied = appliedIndex;
    state.revision = applier.revision;
    state.pagesSinceCheckpoint += applier.pages.length;
    this.hub.notify(applier.changes, state.revision, applier.withPrevKv);
    if (applier.compaction !== undefined) {
      forgetIndexCheckpoint(state);
      this.compaction.schedule(applier.compaction.revision, applier.compaction.removed);
    }
    this.checkpointer.afterCommit();
    return results;
  }

  /**
   * Makes every batch written so far durable (MvccStore.syncToDisk): one synchronous write of the meta
   * record, which carries everything before it in LevelDB's ordered log.
   */
  syncToDisk(): Promise<void> {
    const state = this.state;
    return state.exclusive(async () => {
      state.checkUsable();
      try {
        await state.db.put(metaRecordKey, sealMeta(state.sealer, state.meta(state.applied, state.revision)), { sync: true });
      } catch (error) {
        // After a failed fsync the page cache may hold writes the disk never gets: refuse until reopened.
        throw state.failWith(new MvccError('E_FAILED', 'syncing the store to disk failed; reopen it', { cause: error }));
      }
    });
  }

  /**
   * The batch's pages, changed lease records and the meta record for `appliedIndex`, sealed.
   *
   * A value is sealed here a second time on this member (the WAL sealed the entry that carried it), and
   * must be: a sealed record opens only at its position, and the WAL's record is bound to its log index
   * while a page is bound to (store, revision); the two plaintexts differ (the WAL's is the whole entry —
   * every operation of the command and the request's audit record — a page one change with its MVCC
   * metadata); and they live apart (the WAL drops the entry at its next compaction, the page stays until
   * MVCC compaction). Reusing the WAL's ciphertext would give up position binding, which is what makes a
   * page moved, swapped or replayed fail to open (docs/security.md). What sealing costs a member: the
   * `seal` share of the bench's profile (docs/performance.md, "Everything on: where a member's time goes").
   */
  private sealBatch(applier: BatchApplier, appliedIndex: number): BatchOp[] {
    const { sealer, storeId } = this.state;
    const batch: BatchOp[] = applier.pages.map((page) => ({
      type: 'put' as const, key: encodeRevisionKey(page.main, page.sub), value: sealPage(sealer, storeId, page),
    }));
    for (const [id, lease] of applier.leaseWrites) {
      batch.push(lease === undefined ? { type: 'del', key: encodeLeaseKey(id) } : { type: 'put', key: encodeLeaseKey(id), value: sealLease(sealer, storeId, lease) });
    }
    batch.push({ type: 'put', key: metaRecordKey, value: sealMeta(sealer, this.state.meta(appliedIndex, applier.revision)) });
    return batch;
  }
}
