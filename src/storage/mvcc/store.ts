/**
 * The encrypted MVCC store: the state machine every member applies committed entries to. This class is
 * the façade; each concern lives in its own file, over the shared state of state.ts:
 * reads.ts (range reads, watch history), read-txn.ts (transactions that write nothing, served as reads),
 * commit.ts (writing batches), compaction.ts (physical compaction), hash.ts (HashKV), snapshot-export.ts
 * and snapshot-import.ts, reencrypt.ts (re-sealing after a DEK rotation), purge.ts (rewriting LevelDB's
 * files without what the store no longer holds), load.ts (rebuilding the index at open), page-cache.ts
 * (sealed pages in memory); read-budget.ts bounds what one request reads; readers.ts counts the LevelDB
 * snapshots and reads open.
 *
 * On disk (classic-level): one sealed page per revision, keyed 'r'|main|sub, and one sealed meta record
 * 'm' (applied Raft index, current revision, compact revisions). Every batch writes its pages and the
 * meta record in ONE LevelDB write, so after any crash the applied index and the contents agree.
 * In memory: the key index, rebuilt at open by opening every page — or read from the index checkpoint
 * (index-checkpoint.ts; a clean close writes one, a running store one now and then: checkpointer.ts)
 * and the pages written after it.
 *
 * Ordering (the one place it is written down):
 * 1. writes run one at a time (`exclusive`); a batch changes the index, then writes pages + meta;
 * 2. only after the write succeeds does `revision` (the visible revision) move, and then the watch hub
 *    is told, synchronously;
 * 3. readers validate their revision against `revision`/`compactRevision`, walk the index and take
 *    its pages from the page cache or a LevelDB snapshot in one synchronous step, so they see exactly
 *    the pages of a committed revision (page-cache.ts: a cached page is the page LevelDB holds);
 * 4. physical compaction deletes superseded pages only after the compaction is recorded in meta, in
 *    steps of compactionStepKeysMax with a yield between steps.
 * A failed write leaves the index ahead of disk, and a failed sync leaves writes the disk may never get:
 * either way the store refuses further use (E_FAILED) until reopened.
 */
import { assert, realClock } from '../../base/index.ts';
import { indexCheckpointReplayPagesMin } from '../../config/index.ts';
import type { ApplyResult } from './apply.ts';
import { BatchWriter } from './commit.ts';
import { IndexCheckpointer } from './checkpointer.ts';
import { PhysicalCompaction } from './compaction.ts';
import { MvccError } from './errors.ts';
import { type HashResult, hashStore } from './hash.ts';
import { checkpointKeyRange, writeIndexCheckpoint } from './index-checkpoint.ts';
import { stringToKey } from './keys.ts';
import { type LeaseRecord, leaseRecordOf } from './lease-table.ts';
import { classicLevel, compactWholeDatabase, type Level, writeBatch } from './level.ts';
import { type IndexSource, load } from './load.ts';
import type { MvccStoreOptions } from './options.ts';
import { type PurgeResult, purge } from './purge.ts';
import { history, range } from './reads.ts';
import { readTxn } from './read-txn.ts';
import { type ReencryptStepResult, pagesPerDek, reencryptStep } from './reencrypt.ts';
import { type SnapshotRecord, exportSnapshot } from './snapshot-export.ts';
import { importSnapshot, peekAppliedIndex } from './snapshot-import.ts';
import { StoreState } from './state.ts';
import type {
  CompactResponse, DeleteRangeResponse, PutResponse, RangeOptions, RangeResponse, TxnRequest, TxnResponse, WriteOp, WriteResponse,
} from './types.ts';
import type { ReadAccount } from './read-account.ts';
import { WatchHub, type WatchOptions, type Watcher } from './watch.ts';

export class MvccStore {
  private readonly state: StoreState;
  private readonly hub: WatchHub;
  private readonly compaction: PhysicalCompaction;
  private readonly checkpointer: IndexCheckpointer;
  private readonly writer: BatchWriter;
  private indexSource: IndexSource = { from: 'new store' };

  private constructor(private readonly db: Level, options: MvccStoreOptions) {
    const clock = options.clock ?? realClock;
    const state = new StoreState(db, options.sealer, options.storeId, options.sync === true, clock, options.onFailure);
    this.state = state;
    this.hub = new WatchHub(
      {
        currentRevision: () => state.revision,
        compactRevision: () => state.compactRev,
        history: (span, fromMain, toMain, prevKv) => history(state, span, fromMain, toMain, prevKv),
      },
      clock,
    );
    this.compaction = new PhysicalCompaction(state);
    this.checkpointer = new IndexCheckpointer(state, options.indexCheckpointReplayPagesMin ?? indexCheckpointReplayPagesMin);
    this.writer = new BatchWriter(state, this.hub, this.compaction, this.checkpointer, options.onCommit);
  }

  /** Opens (or creates) the store and rebuilds the key index from its pages. */
  static async open(options: MvccStoreOptions): Promise<MvccStore> {
    const db = (options.openLevel ?? classicLevel)(options.dir);
    await db.open();
    const store = new MvccStore(db, options);
    try {
      store.indexSource = await load(store.state, store.compaction);
    } catch (error) {
      await db.close();
      throw error;
    }
    return store;
  }

  /**
   * Creates a store in `dir` (which must hold no store) from a snapshot's records, sealing every page
   * with this member's keys, and opens it. An interrupted import is detected at open (E_CORRUPT).
   */
  static async importSnapshot(options: MvccStoreOptions & { records: AsyncIterable<SnapshotRecord> }): Promise<MvccStore> {
    await importSnapshot(options, options.records);
    return MvccStore.open(options);
  }

  /**
   * The applied index recorded in the store in `options.dir`, without loading it; undefined when the
   * dir holds no complete store (none, or an import that never wrote its meta record).
   */
  static peekAppliedIndex(options: MvccStoreOptions): Promise<number | undefined> {
    return peekAppliedIndex(options);
  }

  /** How the open rebuilt the key index: from the index checkpoint, or from every page and why. */
  openedFrom(): IndexSource {
    return this.indexSource;
  }

  /**
   * Deletes the index checkpoint of the closed store in `options.dir`, so its next open reads and
   * opens every page.
   */
  static async discardIndexCheckpoint(options: MvccStoreOptions): Promise<void> {
    const db = (options.openLevel ?? classicLevel)(options.dir);
    await db.open();
    try {
      await writeBatch(db, (await db.keys(checkpointKeyRange).all()).map((key) => ({ type: 'del' as const, key })), { sync: true });
    } finally {
      await db.close();
    }
  }

  /** The last Raft log index applied. */
  appliedIndex(): number {
    return this.state.applied;
  }

  currentRevision(): number {
    return this.state.revision;
  }

  compactRevision(): number {
    return this.state.compactRev;
  }

  /** Keys currently in the index (live or with history). */
  indexedKeys(): number {
    return this.state.index.keyCount;
  }

  /** Every lease the store holds (as of the latest applied batch), by ascending id. */
  leases(): LeaseRecord[] {
    return this.state.leaseTable.records();
  }

  /** One lease and the keys attached to it (sorted), or undefined if the store does not hold it. */
  lease(id: number): (LeaseRecord & { keys: Uint8Array[] }) | undefined {
    const lease = this.state.leaseTable.get(id);
    if (lease === undefined) return undefined;
    return { ...leaseRecordOf(lease), keys: [...lease.keys].sort().map(stringToKey) };
  }

  /** `account`: where a client's read charges what it holds (read-budget.ts). */
  range(key: Uint8Array, end?: Uint8Array, options: RangeOptions = {}, account?: ReadAccount): Promise<RangeResponse> {
    return range(this.state, key, end, options, account);
  }

  /**
   * A transaction that writes nothing (no put or deleteRange in any branch, at any level), evaluated as a
   * read: at the current revision, outside the write queue, changing nothing — what a member serves
   * instead of proposing such a transaction (etcd's read-only Txn). Its compares and ranges are the
   * applier's, and all its reads share rangeResultBytesMax (read-txn.ts). A transaction that writes is
   * refused (E_BAD_REQUEST): writes go through applyBatch. `account`: as range's.
   */
  readTxn(request: TxnRequest, account?: ReadAccount): Promise<TxnResponse> {
    return readTxn(this.state, request, account);
  }

  async put(key: Uint8Array, value: Uint8Array, options: { prevKv?: boolean } = {}): Promise<PutResponse> {
    return (await this.applyOne({ type: 'put', key, value, prevKv: options.prevKv === true })) as PutResponse;
  }

  async deleteRange(key: Uint8Array, end?: Uint8Array, options: { prevKv?: boolean } = {}): Promise<DeleteRangeResponse> {
    const op: WriteOp = end === undefined ? { type: 'deleteRange', key, prevKv: options.prevKv === true }
      : { type: 'deleteRange', key, end, prevKv: options.prevKv === true };
    return (await this.applyOne(op)) as DeleteRangeResponse;
  }

  async txn(request: Omit<TxnRequest, 'type'>): Promise<TxnResponse> {
    return (await this.applyOne({ type: 'txn', compare: request.compare, success: request.success, failure: request.failure })) as TxnResponse;
  }

  /** Compacts at `revision`: reads before it are refused at once; superseded pages go in the background. */
  async compact(revision: number): Promise<CompactResponse> {
    return (await this.applyOne({ type: 'compact', revision })) as CompactResponse;
  }

  /**
   * Applies the operations of committed Raft entries, up to log index `appliedIndex`, in one atomic
   * batch. Each operation gets its own result; a refused operation (a limit, a compacted revision)
   * changes nothing and does not stop the others — the outcome is the same on every member.
   * `appliedIndex` must not go backwards; an entry with no operations still advances it.
   */
  applyBatch(appliedIndex: number, ops: readonly WriteOp[]): Promise<ApplyResult[]> {
    assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, `applied index ${appliedIndex} is an integer >= 0`);
    return this.state.exclusive(() => this.writer.apply(appliedIndex, ops));
  }

  /** Settles once the index checkpoint being built in the background, if any, is written or given up. */
  async whenCheckpointed(): Promise<void> {
    await this.checkpointer.settled();
    if (this.state.failed !== undefined) throw this.state.failed;
  }

  /** Resolves when physical compaction has caught up with the compact revision. */
  async whenCompacted(): Promise<void> {
    await this.compaction.settled();
    if (this.state.failed !== undefined) throw this.state.failed;
  }

  /**
   * A hash of the store as of `revision` (0: the current state, leases included), comparable across
   * members that applied the same entries and compactions; hash.ts says what it covers and why.
   */
  hash(revision = 0): Promise<HashResult> {
    return hashStore(this.state, revision);
  }

  watch(options: WatchOptions): Watcher {
    this.state.checkUsable();
    return this.hub.watch(options);
  }

  /**
   * The store as a stream of plaintext logical records: a header, then every page still held at the
   * current revision in revision order, then every lease. The receiver re-seals them with its own keys (importSnapshot);
   * the consumer should wipe values it has finished with.
   */
  exportSnapshot(): AsyncGenerator<SnapshotRecord> {
    return exportSnapshot(this.state);
  }

  /**
   * Makes every batch written so far durable (one synchronous write of the meta record: LevelDB's log
   * is ordered, so it carries everything before it). For stores opened without `sync`: call it before
   * anything that relies on the store's state surviving a power loss, such as compacting the Raft log.
   */
  /** The bytes of the revision pages the store holds (StoreState.pageBytes): what the quota counts. */
  pageBytes(): number {
    return this.state.pageBytes;
  }

  /** Rewrites the database's files to what the store holds (level.ts, compactWholeDatabase); reads and writes go on meanwhile. */
  defragment(): Promise<void> {
    this.state.checkUsable();
    return compactWholeDatabase(this.state.db);
  }

  /**
   * Rewrites the database's files until none holds a version of a record the store no longer holds
   * (purge.ts): what was overwritten or deleted before the call is then in no file of the store's
   * directory. Reads and writes go on meanwhile. Not done (and the reason) if the reads open at one of
   * its passes do not end within `readersWaitMs`.
   */
  purge(readersWaitMs: number): Promise<PurgeResult> {
    return purge(this.state, this.compaction, readersWaitMs);
  }

  syncToDisk(): Promise<void> {
    return this.writer.syncToDisk();
  }

  /**
   * One step of re-encryption: walks at most `scanMax` pages after `after` (a revision key from the
   * previous step; undefined to start at the first page) and re-seals, under the active DEK, at most
   * `pagesMax` of those whose header names another DEK, keeping each page's plaintext and position;
   * then re-seals the meta record too, and, in the step that ends the walk, every lease record. It runs
   * as one write in the store's write queue (reencrypt.ts).
   */
  reencryptStep(after: Uint8Array | undefined, limits: { pagesMax: number; scanMax: number }): Promise<ReencryptStepResult> {
    return reencryptStep(this.state, after, limits);
  }

  /**
   * How many records (revision pages, lease records and the meta record) name each DEK in their header,
   * read from the headers without opening anything, over one point-in-time view of the store.
   */
  pagesPerDek(): Promise<Map<number, number>> {
    return pagesPerDek(this.state);
  }

  /** Watchers open on this store. */
  watcherCount(): number {
    return this.hub.size();
  }

  /**
   * Ends watchers, lets the current compaction step and a checkpoint being built in the background
   * finish or give up, writes the index checkpoint (unless the one on disk is of the current revision,
   * the store failed — its index may be ahead of disk — or is `replaced`: about to be deleted) and
   * closes the database.
   */
  async close(options: { replaced?: boolean } = {}): Promise<void> {
    if (this.state.closed) return;
    this.state.closed = true;
    this.hub.close(new MvccError('E_CLOSED', 'the store was closed'));
    await this.state.writesSettled();
    await this.compaction.settled();
    await this.checkpointer.settled();
    try {
      if (this.state.failed === undefined && options.replaced !== true) await writeIndexCheckpoint(this.state, false);
    } finally {
      await this.db.close();
    }
  }

  private async applyOne(op: WriteOp): Promise<WriteResponse> {
    const [result] = await this.state.exclusive(() => this.writer.apply(this.state.applied, [op]));
    assert(result !== undefined, 'one result per operation');
    if (!result.ok) throw result.error;
    return result.response;
  }
}
