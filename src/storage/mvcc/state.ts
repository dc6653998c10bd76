/**
 * The state every part of the store shares (store.ts composes the parts): the database and how its
 * records are sealed, the key index, the lease table, the revision counters, and the two rules that
 * guard them — the write queue (`exclusive`: writes run one at a time) and failure (once failed, the
 * store refuses every use until reopened; the first failure stays the reason).
 *
 * Invariants: compactRev <= revision; finishedCompactRev <= compactRev. `revision` is the visible
 * revision: it moves only after the batch that made it is written (store.ts, "Ordering").
 */
import type { Clock } from '../../base/index.ts';
import { pageCacheBytesMax } from '../../config/index.ts';
import type { Sealer } from '../../crypto/index.ts';
import { MvccError } from './errors.ts';
import { LeaseTable } from './lease-table.ts';
import type { Level, Snapshot } from './level.ts';
import type { Meta } from './page.ts';
import { PageCache } from './page-cache.ts';
import { OpenReaders } from './readers.ts';
import { TreeIndex } from './tree-index.ts';

export class StoreState {
  readonly index = new TreeIndex();
  readonly leaseTable = new LeaseTable();
  /** Sealed pages the store recently wrote (page-cache.ts). */
  readonly pages = new PageCache(pageCacheBytesMax);
  /** The last Raft log index applied. */
  applied = 0;
  revision = 0;
  compactRev = 0;
  /** The compact revision up to which superseded pages are deleted from disk (compaction.ts). */
  finishedCompactRev = 0;
  /**
   * The bytes of the revision pages the database holds (key and sealed value of each): counted at open,
   * added by each batch, taken off as physical compaction deletes pages. What the quota counts: LevelDB
   * reclaims the space of deleted records only as its own compactions reach them.
   */
  pageBytes = 0;
  /** The revision pages the database holds, counted as pageBytes is. */
  pageCount = 0;
  /**
   * The revision of the index checkpoint on disk while it is usable (index-checkpoint.ts); a compaction
   * makes it unusable and clears this.
   */
  checkpointRevision: number | undefined = undefined;
  /** Pages written after the checkpoint's revision: what an open after a crash would replay. */
  pagesSinceCheckpoint = 0;
  /** The LevelDB snapshots and reads open now (readers.ts): a purge waits for them. */
  readonly readers = new OpenReaders();
  closed = false;
  private failure: MvccError | undefined;
  /** Each snapshot taken by `snapshot` and not yet closed, with the end of its count among the readers. */
  private readonly snapshotEnds = new Map<Snapshot, () => void>();
  private writeTail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: Level,
    readonly sealer: Sealer,
    /** Bound into every record's position. */
    readonly storeId: string,
    /** fsync every batch. */
    readonly sync: boolean,
    readonly clock: Clock,
    private readonly onFailure: ((error: MvccError) => void) | undefined,
  ) {}

  /** The failure the store refuses use with, if any. */
  get failed(): MvccError | undefined {
    return this.failure;
  }

  /** Fails the store for good (the first failure stays the reason) and tells the owner; returns the failure. */
  failWith(error: MvccError): MvccError {
    if (this.failure === undefined) {
      this.failure = error;
      this.onFailure?.(error);
    }
    return this.failure;
  }

  checkUsable(): void {
    if (this.closed) throw new MvccError('E_CLOSED', 'the store was closed');
    if (this.failure !== undefined) throw this.failure;
  }

  /** A LevelDB snapshot of the database as it is now, counted among the open readers until closeSnapshot. */
  snapshot(): Snapshot {
    const snapshot = this.db.snapshot();
    this.snapshotEnds.set(snapshot, this.readers.begin());
    return snapshot;
  }

  /** Closes a snapshot `snapshot` took; it no longer counts as a reader. */
  async closeSnapshot(snapshot: Snapshot): Promise<void> {
    try {
      await snapshot.close();
    } finally {
      this.snapshotEnds.get(snapshot)?.();
      this.snapshotEnds.delete(snapshot);
    }
  }

  /** Runs `work` after every write queued before it, and before any queued after it. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writeTail.then(work);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  /** Settles once every write queued so far has settled. */
  writesSettled(): Promise<unknown> {
    return this.writeTail.catch(() => undefined);
  }

  yieldToEventLoop(): Promise<void> {
    return new Promise((resolve) => this.clock.defer(resolve));
  }

  /** The meta record for `appliedIndex` and `revision`, with the current compact revisions. */
  meta(appliedIndex: number, revision: number): Meta {
    return {
      storeId: this.storeId, appliedIndex, revision,
      compactRevision: this.compactRev, finishedCompactRevision: this.finishedCompactRev,
    };
  }
}
