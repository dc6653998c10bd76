/**
 * The encrypted MVCC store: the state machine every member applies committed entries to.
 *
 * On disk (classic-level): one sealed page per revision, keyed 'r'|main|sub, and one sealed meta record
 * 'm' (applied Raft index, current revision, compact revisions). Every batch writes its pages and the
 * meta record in ONE LevelDB write, so after any crash the applied index and the contents agree.
 * In memory: the key index, rebuilt at open by opening every page.
 *
 * Ordering (the one place it is written down):
 * 1. writes run one at a time (`exclusive`); a batch changes the index, then writes pages + meta;
 * 2. only after the write succeeds does `revision` (the visible revision) move, and then the watch hub
 *    is told, synchronously;
 * 3. readers validate their revision against `revision`/`compactRevision`, take a LevelDB snapshot and
 *    walk the index in one synchronous step, so they see exactly the pages of a committed revision;
 * 4. physical compaction deletes superseded pages only after the compaction is recorded in meta, in
 *    steps of compactionStepKeysMax with a yield between steps.
 * A failed write leaves the index ahead of disk, and a failed sync leaves writes the disk may never get:
 * either way the store refuses further use (E_FAILED) until reopened.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Clock, assert, realClock } from '../../base/index.ts';
import {
  compactionStepKeysMax, leaseTtlSecondsMax, rangeResultBytesMax, snapshotImportBatchRecordsMax, valueBytesMax,
} from '../../config/index.ts';
import type { Sealer } from '../../crypto/index.ts';
import { type ApplyResult, BatchApplier, pageToKv } from './apply.ts';
import { MvccError, compactedError } from './errors.ts';
import type { KeyAt } from './key-index.ts';
import { type KeySpan, keyToString, spanContains, stringToKey, toSpan } from './keys.ts';
import { decodeLeaseKey, encodeLeaseKey, leaseKeyRange, openLease, sealLease } from './lease-record.ts';
import { type LeaseRecord, LeaseTable } from './lease-table.ts';
import { classicLevel, type Level, type OpenLevel } from './level.ts';
import { type Meta, type Page, openMeta, openPage, resealPage, sealMeta, sealPage } from './page.ts';
import { decodeRevisionKey, encodeRevisionKey, isRevisionKey, metaRecordKey, revisionKeyRange, subMax } from './revision.ts';
import { TreeIndex } from './tree-index.ts';
import type {
  CompactResponse, DeleteRangeResponse, KeyValue, PutResponse, RangeOptions, RangeResponse, TxnRequest, TxnResponse,
  WriteOp, WriteResponse,
} from './types.ts';
import { checkKey, checkRange, checkRangeOptions } from './validate.ts';
import { type WatchEvent, WatchHub, type WatchOptions, type Watcher } from './watch.ts';

type Db = Level;
type Snapshot = ReturnType<Db['snapshot']>;

export interface MvccStoreOptions {
  /** The LevelDB directory (created if missing). */
  dir: string;
  /** Seals and opens every record; the member's keyring. */
  sealer: Sealer;
  /** Bound into every page's position, so pages of another store do not open here. */
  storeId: string;
  /** Time for watch progress notifications, and the yields of background work (default: the real clock). */
  clock?: Clock;
  /** The database engine (default: classic-level, i.e. LevelDB). */
  openLevel?: OpenLevel;
  /**
   * fsync every batch (default false). The Raft WAL is the durable record; after a power loss the
   * store may be behind, never torn, and its applied index says where the replication layer resumes.
   */
  sync?: boolean;
  /** Told the duration of every batch written to LevelDB, in seconds (metrics). */
  onCommit?: (seconds: number) => void;
  /** Told, once, that the store failed (E_FAILED or E_INTEGRITY) and refuses every use until reopened. */
  onFailure?: (error: MvccError) => void;
}

export interface HashResult {
  /** SHA-256 (hex) over every key-value change held at or before `revision`, in revision order, and at the current revision the leases (MvccStore.hash). */
  hash: string;
  revision: number;
  compactRevision: number;
}

/** A logical record of a snapshot: plaintext, to be re-sealed by the receiver with its own keys. */
export type SnapshotRecord =
  | { type: 'header'; appliedIndex: number; revision: number; compactRevision: number }
  | { type: 'page'; page: Page }
  | { type: 'lease'; lease: LeaseRecord };

/** One step of background re-encryption (MvccStore.reencryptStep). */
export interface ReencryptStepResult {
  /** Where the next step starts (the last revision key looked at); undefined once the whole store was walked. */
  next: Uint8Array | undefined;
  /** Page headers read. */
  scanned: number;
  /** Pages re-sealed under the active DEK. */
  resealed: number;
  /** The DEK the step sealed with. */
  activeDekId: number;
}

const pageReadStep = 1000;

export class MvccStore {
  private readonly index = new TreeIndex();
  private readonly leaseTable = new LeaseTable();
  private readonly hub: WatchHub;
  // Invariant: compactRevision <= revision; finishedCompactRevision <= compactRevision.
  private applied = 0;
  private revision = 0;
  private compactRev = 0;
  private finishedCompactRev = 0;
  private writeTail: Promise<unknown> = Promise.resolve();
  private compactionTail: Promise<void> = Promise.resolve();
  private failure: MvccError | undefined;
  private closed = false;
  private onCommit: ((seconds: number) => void) | undefined;
  private onFailure: ((error: MvccError) => void) | undefined;

  private constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly storeId: string,
    private readonly sync: boolean,
    private readonly clock: Clock,
  ) {
    this.hub = new WatchHub(
      {
        currentRevision: () => this.revision,
        compactRevision: () => this.compactRev,
        history: (span, fromMain, toMain, prevKv) => this.history(span, fromMain, toMain, prevKv),
      },
      clock,
    );
  }

  /** Opens (or creates) the store and rebuilds the key index from its pages. */
  static async open(options: MvccStoreOptions): Promise<MvccStore> {
    const db = (options.openLevel ?? classicLevel)(options.dir);
    await db.open();
    const store = new MvccStore(db, options.sealer, options.storeId, options.sync === true, options.clock ?? realClock);
    store.onCommit = options.onCommit;
    store.onFailure = options.onFailure;
    try {
      await store.load();
    } catch (error) {
      await db.close();
      throw error;
    }
    return store;
  }

  /**
   * Creates a store in `dir` (which must hold no store) from a snapshot's records, sealing every page
   * with this member's keys. The meta record is written last, so an interrupted import is detected at
   * open (E_CORRUPT) rather than mistaken for a short store.
   */
  static async importSnapshot(options: MvccStoreOptions & { records: AsyncIterable<SnapshotRecord> }): Promise<MvccStore> {
    const db = (options.openLevel ?? classicLevel)(options.dir);
    await db.open();
    try {
      if (!(await isEmpty(db))) throw new MvccError('E_BAD_REQUEST', `snapshot import into ${options.dir}, which already holds a store`);
      let header: Extract<SnapshotRecord, { type: 'header' }> | undefined;
      let last = { main: 0, sub: -1 };
      let ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
      const leaseIds = new Set<number>();
      for await (const record of options.records) {
        if (record.type === 'header') {
          if (header !== undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot has two headers');
          const { appliedIndex, revision, compactRevision } = record;
          if (![appliedIndex, revision, compactRevision].every((n) => Number.isSafeInteger(n) && n >= 0) || compactRevision > revision) {
            throw new MvccError('E_BAD_REQUEST', `snapshot header (applied ${appliedIndex}, revision ${revision}, compact ${compactRevision}) is not valid`);
          }
          header = record;
          continue;
        }
        if (header === undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot does not start with its header');
        if (record.type === 'lease') {
          checkSnapshotLease(record.lease, leaseIds);
          ops.push({ type: 'put', key: encodeLeaseKey(record.lease.id), value: sealLease(options.sealer, options.storeId, record.lease) });
          continue;
        }
        const { main, sub } = record.page;
        const wellFormed = Number.isSafeInteger(main) && main >= 1 && Number.isInteger(sub) && sub >= 0 && sub <= subMax;
        if (!wellFormed || !(main > last.main || (main === last.main && sub > last.sub)) || main > header.revision) {
          throw new MvccError('E_BAD_REQUEST', `snapshot page ${main}.${sub} is out of order or after revision ${header.revision}`);
        }
        checkKey(record.page.key, `snapshot page ${main}.${sub} key`);
        if (record.page.value.length > valueBytesMax) {
          throw new MvccError('E_LIMIT', `snapshot page ${main}.${sub} value of ${record.page.value.length} bytes exceeds valueBytesMax (${valueBytesMax})`);
        }
        last = { main, sub };
        ops.push({ type: 'put', key: encodeRevisionKey(main, sub), value: sealPage(options.sealer, options.storeId, record.page) });
        if (ops.length >= snapshotImportBatchRecordsMax) {
          await db.batch(ops);
          ops = [];
        }
      }
      if (header === undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot has no header');
      const meta: Meta = {
        storeId: options.storeId, appliedIndex: header.appliedIndex, revision: header.revision,
        compactRevision: header.compactRevision, finishedCompactRevision: header.compactRevision,
      };
      await db.batch([...ops, { type: 'put', key: metaRecordKey, value: sealMeta(options.sealer, meta) }], { sync: true });
    } finally {
      await db.close();
    }
    return MvccStore.open(options);
  }

  /**
   * The applied index recorded in the store in `options.dir`, without loading it; undefined when the
   * dir holds no complete store (none, or an import that never wrote its meta record).
   */
  static async peekAppliedIndex(options: MvccStoreOptions): Promise<number | undefined> {
    const db = (options.openLevel ?? classicLevel)(options.dir);
    await db.open();
    try {
      const sealed = await db.get(metaRecordKey);
      return sealed === undefined ? undefined : openMeta(options.sealer, options.storeId, sealed).appliedIndex;
    } finally {
      await db.close();
    }
  }

  /** The last Raft log index applied. */
  appliedIndex(): number {
    return this.applied;
  }

  currentRevision(): number {
    return this.revision;
  }

  compactRevision(): number {
    return this.compactRev;
  }

  /** Keys currently in the index (live or with history). */
  indexedKeys(): number {
    return this.index.keyCount;
  }

  /** Every lease the store holds (as of the latest applied batch), by ascending id. */
  leases(): LeaseRecord[] {
    return this.leaseTable.list().map(({ id, ttl, remainingTtlMs, refreshes }) => ({ id, ttl, remainingTtlMs, refreshes }));
  }

  /** One lease and the keys attached to it (sorted), or undefined if the store does not hold it. */
  lease(id: number): (LeaseRecord & { keys: Uint8Array[] }) | undefined {
    const lease = this.leaseTable.get(id);
    if (lease === undefined) return undefined;
    const { ttl, remainingTtlMs, refreshes } = lease;
    return { id, ttl, remainingTtlMs, refreshes, keys: [...lease.keys].sort().map(stringToKey) };
  }

  async range(key: Uint8Array, end?: Uint8Array, options: RangeOptions = {}): Promise<RangeResponse> {
    this.checkUsable();
    checkRange(key, end);
    checkRangeOptions(options);
    const atMain = options.revision === undefined || options.revision === 0 ? this.revision : options.revision;
    if (atMain > this.revision) throw new MvccError('E_FUTURE_REV', `range revision ${atMain} is after the current revision ${this.revision}`);
    if (atMain < this.compactRev) throw compactedError(atMain, this.compactRev);
    const header = this.revision;
    const limit = options.limit ?? 0;
    const found: { key: string; at: KeyAt }[] = [];
    let count = 0;
    // Synchronous with the checks above: the snapshot holds every page the index points to.
    const snapshot = this.db.snapshot();
    try {
      this.index.range(toSpan(key, end), atMain, (k, at) => {
        count++;
        if (options.countOnly !== true && (limit === 0 || found.length < limit)) found.push({ key: k, at });
        return true;
      });
      let kvs: KeyValue[];
      if (options.keysOnly === true) {
        kvs = found.map(({ key: k, at }) => ({
          key: stringToKey(k), value: new Uint8Array(0), createRevision: at.createRevision, modRevision: at.mod.main, version: at.version, lease: 0,
        }));
      } else {
        kvs = (await this.readPages(found.map((f) => f.at.mod), snapshot)).map(pageToKv);
      }
      let bytes = 0;
      for (const kv of kvs) bytes += kv.key.length + kv.value.length;
      if (bytes > rangeResultBytesMax) {
        for (const kv of kvs) kv.value.fill(0);
        throw new MvccError('E_LIMIT', `range result of ${bytes} bytes exceeds rangeResultBytesMax (${rangeResultBytesMax}); use a limit`);
      }
      return { type: 'range', kvs, count, more: limit > 0 && count > limit, revision: header };
    } finally {
      await snapshot.close();
    }
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
    return this.exclusive(() => this.applyNow(appliedIndex, ops));
  }

  /** Resolves when physical compaction has caught up with the compact revision. */
  async whenCompacted(): Promise<void> {
    await this.compactionTail;
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * A hash of the store as of `revision`, comparable across members that applied the same entries and
   * compactions: it covers the logical history still held (physical compaction progress does not change
   * it) — each change with the lease its key was attached to —, the revision and the compact revision.
   * Asked for the current state (`revision` 0, as `etcdctl endpoint hashkv` asks), it covers the leases
   * too: each lease's id, granted TTL and attached keys, the replicated state etcd 3.4's HashKV leaves out,
   * so members that disagree about a lease do not hash equal. Not the remaining TTL of the last checkpoint
   * nor the keep-alive count: they change with every checkpoint and keep-alive without a new revision, so
   * two healthy members at one revision would differ while one of those entries is applied on one member
   * and not yet on the other. The store keeps no history of leases, so a hash at an explicit revision
   * leaves the lease table out (and stays equal on members at any later revision).
   * (docs/architecture.md, "HashKV".)
   */
  async hash(revision = 0): Promise<HashResult> {
    this.checkUsable();
    // The lease table changes in place while a batch is applied: the current state is read between batches.
    const current = revision === 0
      ? await this.exclusive(() => Promise.resolve({ revision: this.revision, leases: this.leaseTable.list().map(({ id, ttl, keys }) => ({ id, ttl, keys: [...keys].sort() })) }))
      : undefined;
    const atMain = current?.revision ?? revision;
    if (atMain > this.revision) throw new MvccError('E_FUTURE_REV', `hash revision ${atMain} is after the current revision ${this.revision}`);
    if (atMain < this.compactRev) throw compactedError(atMain, this.compactRev);
    const compactRevision = this.compactRev;
    const snapshot = this.db.snapshot();
    try {
      const packed = this.index.revisionsUpTo(atMain);
      const digest = createHash('sha256');
      const numbers = new DataView(new ArrayBuffer(8));
      const addNumber = (n: number): void => {
        numbers.setBigUint64(0, BigInt(n));
        digest.update(new Uint8Array(numbers.buffer));
      };
      const addBytes = (bytes: Uint8Array): void => {
        addNumber(bytes.length);
        digest.update(bytes);
      };
      addNumber(atMain);
      addNumber(compactRevision);
      for (let i = 0; i < packed.length; i += 2 * pageReadStep) {
        const revs: { main: number; sub: number }[] = [];
        for (let j = i; j < Math.min(packed.length, i + 2 * pageReadStep); j += 2) revs.push({ main: packed[j]!, sub: packed[j + 1]! });
        for (const page of await this.readPages(revs, snapshot)) {
          for (const n of [page.main, page.sub, page.createRevision, page.version, page.tombstone ? 1 : 0, page.lease]) addNumber(n);
          addBytes(page.key);
          addBytes(page.value);
          page.value.fill(0);
        }
      }
      if (current !== undefined) {
        addNumber(current.leases.length);
        for (const lease of current.leases) {
          for (const n of [lease.id, lease.ttl, lease.keys.length]) addNumber(n);
          for (const key of lease.keys) addBytes(stringToKey(key));
        }
      }
      return { hash: digest.digest('hex'), revision: atMain, compactRevision };
    } finally {
      await snapshot.close();
    }
  }

  watch(options: WatchOptions): Watcher {
    this.checkUsable();
    return this.hub.watch(options);
  }

  /**
   * The store as a stream of plaintext logical records: a header, then every page still held at the
   * current revision in revision order, then every lease. The receiver re-seals them with its own keys (importSnapshot);
   * the consumer should wipe values it has finished with.
   */
  async *exportSnapshot(): AsyncGenerator<SnapshotRecord> {
    this.checkUsable();
    const header: SnapshotRecord = { type: 'header', appliedIndex: this.applied, revision: this.revision, compactRevision: this.compactRev };
    const snapshot = this.db.snapshot();
    try {
      const packed = this.index.revisionsUpTo(this.revision);
      // Taken with the header, synchronously: the leases as of the exported revision.
      const leases = this.leases();
      yield header;
      for (let i = 0; i < packed.length; i += 2 * pageReadStep) {
        const revs: { main: number; sub: number }[] = [];
        for (let j = i; j < Math.min(packed.length, i + 2 * pageReadStep); j += 2) revs.push({ main: packed[j]!, sub: packed[j + 1]! });
        for (const page of await this.readPages(revs, snapshot)) yield { type: 'page', page };
      }
      for (const lease of leases) yield { type: 'lease', lease };
    } finally {
      await snapshot.close();
    }
  }

  /**
   * Makes every batch written so far durable (one synchronous write of the meta record: LevelDB's log
   * is ordered, so it carries everything before it). For stores opened without `sync`: call it before
   * anything that relies on the store's state surviving a power loss, such as compacting the Raft log.
   */
  syncToDisk(): Promise<void> {
    return this.exclusive(async () => {
      this.checkUsable();
      try {
        await this.db.put(metaRecordKey, sealMeta(this.sealer, this.meta(this.applied, this.revision)), { sync: true });
      } catch (error) {
        // After a failed fsync the page cache may hold writes the disk never gets: refuse until reopened.
        throw this.failWith(new MvccError('E_FAILED', 'syncing the store to disk failed; reopen it', { cause: error }));
      }
    });
  }

  /**
   * One step of re-encryption: walks at most `scanMax` pages after `after` (a revision key from the
   * previous step; undefined to start at the first page) and re-seals, under the active DEK, at most
   * `pagesMax` of those whose header names another DEK, keeping each page's plaintext and position;
   * then re-seals the meta record too, and, in the step that ends the walk, every lease record. It runs as one write in the store's write queue, so it never
   * interleaves with an apply batch or the meta update of a compaction; a page already removed from
   * the index by a compaction (physical deletion pending) is left alone, so it cannot be resurrected.
   */
  reencryptStep(after: Uint8Array | undefined, limits: { pagesMax: number; scanMax: number }): Promise<ReencryptStepResult> {
    assert(limits.pagesMax >= 1 && limits.scanMax >= limits.pagesMax, 're-encryption limits are positive and scanMax >= pagesMax');
    return this.exclusive(async () => {
      this.checkUsable();
      const active = this.sealer.activeDekId();
      const range = revisionKeyRange(0, Number.MAX_SAFE_INTEGER);
      const iterator = this.db.iterator({
        ...(after === undefined ? { gte: range.gte } : { gt: after }), lte: range.lte, limit: limits.scanMax, fillCache: false,
      });
      const batch: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
      let scanned = 0;
      let last: Uint8Array | undefined;
      let end = false;
      try {
        while (batch.length < limits.pagesMax && scanned < limits.scanMax) {
          const entries = await iterator.nextv(Math.min(limits.pagesMax - batch.length, limits.scanMax - scanned));
          if (entries.length === 0) {
            end = scanned < limits.scanMax;
            break;
          }
          for (const [key, sealed] of entries) {
            scanned++;
            last = key;
            if (this.sealer.dekIdOf(sealed) === active) continue;
            const { main, sub } = decodeRevisionKey(key);
            // Above the compact revision no page is ever deleted; at or below it, only pages the index holds stay.
            const keep = main > this.compactRev ? () => true : (k: Uint8Array) => this.index.holds(keyToString(k), main, sub);
            const value = resealPage(this.sealer, this.storeId, sealed, main, sub, keep);
            if (value !== undefined) batch.push({ type: 'put', key, value });
          }
        }
      } finally {
        await iterator.close();
      }
      // The walk is over: the lease records (at most leasesMax, small) move in the same last batch.
      if (end) {
        for await (const [key, sealed] of this.db.iterator({ ...leaseKeyRange, fillCache: false })) {
          if (this.sealer.dekIdOf(sealed) === active) continue;
          const id = decodeLeaseKey(key);
          batch.push({ type: 'put', key, value: sealLease(this.sealer, this.storeId, openLease(this.sealer, this.storeId, sealed, id)) });
        }
      }
      batch.push({ type: 'put', key: metaRecordKey, value: sealMeta(this.sealer, this.meta(this.applied, this.revision)) });
      try {
        await this.db.batch(batch, { sync: this.sync });
      } catch (error) {
        throw this.failWith(new MvccError('E_FAILED', 're-encrypting pages failed; reopen the store', { cause: error }));
      }
      return { next: end ? undefined : last, scanned, resealed: batch.length - 1, activeDekId: active };
    });
  }

  /**
   * How many records (revision pages, lease records and the meta record) name each DEK in their header,
   * read from the headers without opening anything, over one point-in-time view of the store.
   */
  async pagesPerDek(): Promise<Map<number, number>> {
    this.checkUsable();
    const counts = new Map<number, number>();
    const snapshot = this.db.snapshot();
    try {
      const meta = await this.db.get(metaRecordKey, { snapshot });
      if (meta !== undefined) counts.set(this.sealer.dekIdOf(meta), 1);
      for (const range of [revisionKeyRange(0, Number.MAX_SAFE_INTEGER), leaseKeyRange]) {
        const iterator = this.db.values({ ...range, snapshot, fillCache: false });
        try {
          for (;;) {
            const values = await iterator.nextv(pageReadStep);
            if (values.length === 0) break;
            for (const sealed of values) {
              const id = this.sealer.dekIdOf(sealed);
              counts.set(id, (counts.get(id) ?? 0) + 1);
            }
            await this.yieldToEventLoop();
          }
        } finally {
          await iterator.close();
        }
      }
    } finally {
      await snapshot.close();
    }
    return counts;
  }

  /** Watchers open on this store. */
  watcherCount(): number {
    return this.hub.size();
  }

  /** Ends watchers, lets the current compaction step finish, and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.close(new MvccError('E_CLOSED', 'the store was closed'));
    await this.writeTail.catch(() => undefined);
    await this.compactionTail;
    await this.db.close();
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────

  /** Fails the store for good (the first failure stays the reason) and tells the owner; returns the failure. */
  private failWith(error: MvccError): MvccError {
    if (this.failure === undefined) {
      this.failure = error;
      this.onFailure?.(error);
    }
    return this.failure;
  }

  private yieldToEventLoop(): Promise<void> {
    return new Promise((resolve) => this.clock.defer(resolve));
  }

  private checkUsable(): void {
    if (this.closed) throw new MvccError('E_CLOSED', 'the store was closed');
    if (this.failure !== undefined) throw this.failure;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writeTail.then(work);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  private async applyOne(op: WriteOp): Promise<WriteResponse> {
    const [result] = await this.exclusive(() => this.applyNow(this.applied, [op]));
    assert(result !== undefined, 'one result per operation');
    if (!result.ok) throw result.error;
    return result.response;
  }

  private async applyNow(appliedIndex: number, ops: readonly WriteOp[]): Promise<ApplyResult[]> {
    this.checkUsable();
    assert(appliedIndex >= this.applied, `applied index ${appliedIndex} goes back from ${this.applied}`);
    const applier = new BatchApplier(
      {
        index: this.index,
        leases: this.leaseTable,
        readPage: async (main, sub) => (await this.readPages([{ main, sub }]))[0]!,
        wantsPrevKv: () => this.hub.wantsPrevKv(),
        compactRevision: () => this.compactRev,
        markCompacted: (revision) => {
          this.compactRev = revision;
        },
      },
      this.revision,
    );
    const results: ApplyResult[] = [];
    try {
      for (const op of ops) results.push(await applier.apply(op));
      const unchanged = applier.revision === this.revision && appliedIndex === this.applied && applier.compaction === undefined;
      if (unchanged && applier.leaseWrites.size === 0) return results;
      const batch: ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array })[] = applier.pages.map((page) => ({
        type: 'put' as const, key: encodeRevisionKey(page.main, page.sub), value: sealPage(this.sealer, this.storeId, page),
      }));
      for (const [id, lease] of applier.leaseWrites) {
        batch.push(lease === undefined ? { type: 'del', key: encodeLeaseKey(id) } : { type: 'put', key: encodeLeaseKey(id), value: sealLease(this.sealer, this.storeId, lease) });
      }
      batch.push({ type: 'put', key: metaRecordKey, value: sealMeta(this.sealer, this.meta(appliedIndex, applier.revision)) });
      const commitStart = performance.now();
      await this.db.batch(batch, { sync: this.sync });
      this.onCommit?.((performance.now() - commitStart) / 1000);
    } catch (error) {
      // The index may hold changes that are not on disk; only a reopen (rebuild from disk) is safe.
      throw this.failWith(error instanceof MvccError && error.code === 'E_INTEGRITY' ? error
        : new MvccError('E_FAILED', 'a write to the store failed; reopen it', { cause: error }));
    }
    this.applied = appliedIndex;
    this.revision = applier.revision;
    this.hub.notify(applier.changes, this.revision, applier.withPrevKv);
    if (applier.compaction !== undefined) this.schedulePhysicalCompaction(applier.compaction.revision, applier.compaction.removed);
    return results;
  }

  private meta(appliedIndex: number, revision: number): Meta {
    return {
      storeId: this.storeId, appliedIndex, revision,
      compactRevision: this.compactRev, finishedCompactRevision: this.finishedCompactRev,
    };
  }

  /** Reads and opens pages (in the given order); a missing page is an integrity failure. */
  private async readPages(revs: readonly { main: number; sub: number }[], snapshot?: Snapshot): Promise<Page[]> {
    if (revs.length === 0) return [];
    const keys = revs.map((r) => encodeRevisionKey(r.main, r.sub));
    const values = await (snapshot === undefined ? this.db.getMany(keys) : this.db.getMany(keys, { snapshot }));
    return revs.map((r, i) => {
      const sealed = values[i];
      if (sealed === undefined) {
        throw new MvccError('E_INTEGRITY', `the page of revision ${r.main}.${r.sub} is missing`, { revision: r.main });
      }
      return openPage(this.sealer, this.storeId, sealed, r.main, r.sub);
    });
  }

  private async history(span: KeySpan, fromMain: number, toMain: number, prevKv: boolean): Promise<WatchEvent[]> {
    this.checkUsable();
    if (this.compactRev > 0 && fromMain <= this.compactRev) throw compactedError(fromMain, this.compactRev);
    const upTo = Math.min(toMain, this.revision);
    const snapshot = this.db.snapshot();
    try {
      const events: WatchEvent[] = [];
      const wantPrev: { event: WatchEvent; main: number; sub: number }[] = [];
      const iterator = this.db.iterator({ ...revisionKeyRange(fromMain, upTo), snapshot });
      try {
        for (;;) {
          const entries = await iterator.nextv(pageReadStep);
          if (entries.length === 0) break;
          for (const [key, sealed] of entries) {
            const { main, sub } = decodeRevisionKey(key);
            const page = openPage(this.sealer, this.storeId, sealed, main, sub);
            if (!spanContains(span, keyToString(page.key))) {
              page.value.fill(0);
              continue;
            }
            const event: WatchEvent = page.tombstone
              ? { type: 'delete', kv: { key: page.key, value: page.value, createRevision: 0, modRevision: main, version: 0, lease: 0 } }
              : { type: 'put', kv: pageToKv(page) };
            events.push(event);
            if (prevKv && page.prevMain > 0) wantPrev.push({ event, main: page.prevMain, sub: page.prevSub });
          }
        }
      } finally {
        await iterator.close();
      }
      const prevPages = await this.readPages(wantPrev, snapshot);
      wantPrev.forEach((w, i) => {
        w.event.prevKv = pageToKv(prevPages[i]!);
      });
      return events;
    } finally {
      await snapshot.close();
    }
  }

  private schedulePhysicalCompaction(revision: number, removed: readonly number[]): void {
    this.compactionTail = this.compactionTail.then(async () => {
      try {
        for (let i = 0; i < removed.length; i += 2 * compactionStepKeysMax) {
          if (this.closed) return; // resumed at the next open
          const batch: { type: 'del'; key: Uint8Array }[] = [];
          for (let j = i; j < Math.min(removed.length, i + 2 * compactionStepKeysMax); j += 2) {
            batch.push({ type: 'del', key: encodeRevisionKey(removed[j]!, removed[j + 1]!) });
          }
          await this.db.batch(batch);
          await this.yieldToEventLoop();
        }
        if (this.closed) return;
        await this.exclusive(async () => {
          if (this.closed || this.failure !== undefined) return;
          this.finishedCompactRev = Math.max(this.finishedCompactRev, revision);
          await this.db.put(metaRecordKey, sealMeta(this.sealer, this.meta(this.applied, this.revision)), { sync: this.sync });
        });
      } catch (error) {
        this.failWith(new MvccError('E_FAILED', `physical compaction at revision ${revision} failed; reopen the store`, { cause: error }));
      }
    });
  }

  /**
   * Above the compact revision every page names the key's previous revision (or none, for a creation),
   * and that revision is always kept; a mismatch means a page was deleted or replayed from elsewhere.
   */
  private checkChain(key: string, page: Page): void {
    const latest = this.index.latest(key);
    const ok = page.prevMain === 0 ? latest === undefined
      : latest !== undefined && latest.main === page.prevMain && latest.sub === page.prevSub;
    if (!ok) {
      throw new MvccError('E_INTEGRITY', `the page of revision ${page.main}.${page.sub} does not follow the key's previous page (a page is missing)`, {
        revision: page.main,
      });
    }
  }

  /** Reads meta and rebuilds the index from every page; resumes an interrupted physical compaction. */
  private async load(): Promise<void> {
    const sealedMeta = await this.db.get(metaRecordKey);
    if (sealedMeta === undefined) {
      if (!(await isEmpty(this.db))) {
        throw new MvccError('E_CORRUPT', 'the store holds pages but no meta record (an interrupted snapshot import?)');
      }
      await this.db.put(metaRecordKey, sealMeta(this.sealer, this.meta(0, 0)), { sync: true });
      return;
    }
    const meta = openMeta(this.sealer, this.storeId, sealedMeta);
    assert(meta.storeId === this.storeId, 'the meta record names this store (it is bound to it)');
    this.applied = meta.appliedIndex;
    this.revision = meta.revision;
    this.compactRev = meta.compactRevision;
    this.finishedCompactRev = meta.finishedCompactRevision;
    for await (const [key, sealed] of this.db.iterator({ ...leaseKeyRange, fillCache: false })) {
      const id = decodeLeaseKey(key);
      this.leaseTable.add(openLease(this.sealer, this.storeId, sealed, id));
    }
    /** Each key's lease as of its latest page. */
    const keyLeases = new Map<string, number>();
    this.index.beginRestore();
    // Each page is read once here; keep them out of LevelDB's block cache (fillCache: false).
    const iterator = this.db.iterator({ ...revisionKeyRange(0, Number.MAX_SAFE_INTEGER), fillCache: false });
    try {
      for (;;) {
        const entries = await iterator.nextv(pageReadStep);
        if (entries.length === 0) break;
        for (const [key, sealed] of entries) {
          assert(isRevisionKey(key), 'only revision pages lie in the revision key range');
          const { main, sub } = decodeRevisionKey(key);
          if (main > this.revision) {
            throw new MvccError('E_CORRUPT', `page ${main}.${sub} is after the recorded revision ${this.revision}`);
          }
          const page = openPage(this.sealer, this.storeId, sealed, main, sub);
          const k = keyToString(page.key);
          if (main > this.compactRev) this.checkChain(k, page);
          if (page.tombstone) this.index.restoreTombstone(k, main, sub);
          else this.index.restorePut(k, main, sub, page.createRevision, page.version);
          keyLeases.set(k, page.lease);
          page.value.fill(0);
        }
      }
    } finally {
      await iterator.close();
    }
    this.index.finishRestore();
    for (const [key, id] of keyLeases) {
      if (id === 0) continue;
      if (this.leaseTable.get(id) === undefined) throw new MvccError('E_CORRUPT', `a key's latest page names lease ${id}, which the store does not hold`);
      this.leaseTable.attach(key, id);
    }
    if (this.compactRev > 0) {
      const removed = this.index.compact(this.compactRev);
      if (removed.length > 0 || this.finishedCompactRev < this.compactRev) this.schedulePhysicalCompaction(this.compactRev, removed);
    }
  }
}

/** A lease record of a snapshot: well formed and not seen before. */
function checkSnapshotLease(lease: LeaseRecord, seen: Set<number>): void {
  const counts = [lease.id, lease.ttl, lease.remainingTtlMs, lease.refreshes];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || lease.id === 0 || lease.ttl === 0 || lease.ttl > leaseTtlSecondsMax || seen.has(lease.id)) {
    throw new MvccError('E_BAD_REQUEST', `snapshot lease ${lease.id} is not valid or appears twice`);
  }
  seen.add(lease.id);
}

async function isEmpty(db: Db): Promise<boolean> {
  const keys = await db.keys({ limit: 1 }).all();
  return keys.length === 0;
}
