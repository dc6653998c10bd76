/**
 * The write path's semantics: turns a list of operations into index changes, new pages and responses,
 * exactly as etcd's MVCC would, without touching the disk. The store writes the result in one atomic
 * batch and only then makes the new revision visible.
 *
 * Revision rule: each put, each deleteRange that deletes something, and each transaction whose branch
 * changes something takes the next main revision; its changes are numbered by sub from 0. Reads inside
 * a transaction see the transaction's own earlier writes (from `pending`).
 *
 * Invariant: while a batch is being built, `index` holds its changes but the store's visible revision
 * does not include them, so concurrent readers never look at revisions that are not on disk yet.
 */
import { batchWatchPrevKvBytesMax, leaseKeysMax, leasesMax, leasesPerOwnerMax } from '../../config/index.ts';
import { MvccError, compactedError } from './errors.ts';
import { keyToString, stringToKey, toSpan } from './keys.ts';
import { type Lease, type LeaseRecord, type LeaseTable, leaseKeysCheck, leaseRecordOf, ownsLease } from './lease-table.ts';
import type { Page } from './page.ts';
import { ReadBudget } from './read-budget.ts';
import type { Revision } from './revision.ts';
import { type TreeIndex, sortPacked } from './tree-index.ts';
import { type TxnReadView, chooseBranches, pageToKv, readRange } from './txn-reads.ts';
import type {
  DeleteRangeRequest, DeleteRangeResponse, KeyValue, LeaseKeysCheck, LeaseOp, LeaseResponse, PutRequest, PutResponse,
  TxnRequest, TxnResponse, WriteOp, WriteResponse,
} from './types.ts';
import { checkWriteOp } from './validate.ts';
import type { Change } from './watch.ts';

/** What the applier needs from the store. */
export interface ApplyContext {
  index: TreeIndex;
  /** The leases and their keys; changed in place, each changed lease noted in `leaseWrites`. */
  leases: LeaseTable;
  /** Reads a committed page (at the latest state, so never a compacted one). */
  readPage(main: number, sub: number): Promise<Page>;
  /** True if live changes must carry the previous key-value for watchers (asked once per batch). */
  wantsPrevKv(): boolean;
  compactRevision(): number;
  /** Records a logical compaction at once (the index is already compacted), so readers refuse older revisions. */
  markCompacted(revision: number): void;
  /** Lets other work run: a transaction's long read yields between steps (ReadBudget.yieldDue). */
  yieldToEventLoop(): Promise<void>;
}

export type ApplyResult = { ok: true; response: WriteResponse } | { ok: false; error: MvccError };

export interface CompactionPlan {
  revision: number;
  /** Revisions whose pages are to be deleted, packed [main, sub, ...] ascending. */
  removed: number[];
}

/** The latest state, including revisions of this batch: higher than any main revision. */
const latest = Number.MAX_SAFE_INTEGER;

/** Whether a lease holds exactly the keys a revoke checked (the count first: it differs whenever a key was added or left). */
function sameLeaseKeys(checked: LeaseKeysCheck, keys: ReadonlySet<string>): boolean {
  return checked.count === keys.size && checked.sha256 === leaseKeysCheck(keys).sha256;
}

function leaseNotFound(id: number): MvccError {
  return new MvccError('E_LEASE_NOT_FOUND', `lease ${id} does not exist (never granted, revoked or expired)`);
}

/** Lease `id`, which `user` must own when named (absent: system:masters, or the lessor); refused otherwise. */
function ownedLease(leases: LeaseTable, id: number, user: string | undefined): Lease {
  const lease = leases.get(id);
  if (lease === undefined) throw leaseNotFound(id);
  if (user !== undefined && !ownsLease(lease, user)) throw new MvccError('E_LEASE_NOT_OWNED', `lease ${id} is another user's`);
  return lease;
}

export class BatchApplier {
  /** Pages of this batch in order; `pending` finds them by revision. */
  readonly pages: Page[] = [];
  readonly changes: Change[] = [];
  compaction: CompactionPlan | undefined;
  /** Leases this batch changed: the record to write, or undefined for a lease revoked. */
  readonly leaseWrites = new Map<number, LeaseRecord | undefined>();
  private readonly pending = new Map<string, Page>();
  /**
   * Every change of this batch carries its previous key-value (some watcher wanted them when the batch
   * began). Set when the batch begins, so the hub knows whether a prevKv watcher added meanwhile is
   * served; turned off for good when the batch would carry too much (carriedForWatchers).
   */
  withPrevKv: boolean;
  /** Key and value bytes of the previous key-values this batch carries for watchers. */
  private watchPrevKvBytes = 0;
  /** Inside a transaction: how to take back each index change made so far. */
  private undo: (() => void)[] | undefined;
  /** What a transaction's compares and ranges read (txn-reads.ts): the latest state, this batch's writes included. */
  private readonly view: TxnReadView;

  constructor(
    private readonly ctx: ApplyContext,
    /** The working revision: the store's current revision plus what this batch has added. */
    public revision: number,
  ) {
    this.withPrevKv = ctx.wantsPrevKv();
    this.view = {
      at: latest,
      newest: () => this.revision,
      compactRevision: () => ctx.compactRevision(),
      walk: (span, at, visit) => ctx.index.range(span, at, visit),
      readPages: (revs, budget) => this.readCounted(revs, budget),
      leaseOf: (key) => Promise.resolve(ctx.leases.leaseOf(key)),
      shares: (page) => this.pending.get(`${page.main}.${page.sub}`) === page,
    };
  }

  /**
   * Applies one operation; an invalid or refused operation changes nothing and yields an error result.
   * Refusals found while applying (an unknown lease, a limit) are raised before the operation changes
   * anything; inside a transaction, its earlier changes are undone (txnOrRollback).
   */
  async apply(op: WriteOp): Promise<ApplyResult> {
    try {
      checkWriteOp(op);
      if (op.type === 'compact') this.checkCompact(op.revision);
      if (op.type === 'txn') return await this.txnOrRollback(op);
      return { ok: true, response: await this.applyOne(op) };
    } catch (error) {
      if (error instanceof MvccError && error.code !== 'E_INTEGRITY') return { ok: false, error };
      throw error;
    }
  }

  private async applyOne(op: Exclude<WriteOp, TxnRequest>): Promise<WriteResponse> {
    switch (op.type) {
      case 'put': {
        const main = this.revision + 1;
        const response = await this.put(op, main, 0);
        this.revision = main;
        return response;
      }
      case 'deleteRange': {
        const main = this.revision + 1;
        const response = await this.deleteRange(op, main, 0);
        if (response.deleted > 0) this.revision = main;
        response.revision = this.revision;
        return response;
      }
      case 'compact':
        return this.compact(op.revision);
      default:
        return this.lease(op);
    }
  }

  /** A lease operation; a refused one throws before it changes anything. */
  private async lease(op: LeaseOp): Promise<LeaseResponse> {
    const leases = this.ctx.leases;
    switch (op.type) {
      case 'leaseGrant': {
        if (leases.size >= leasesMax) throw new MvccError('E_LIMIT', `the store holds ${leasesMax} leases (leasesMax); revoke some first`);
        if (op.owner !== undefined && leases.ownedBy(op.owner) >= leasesPerOwnerMax) {
          throw new MvccError('E_LEASE_QUOTA', `the user holds ${leasesPerOwnerMax} leases (leasesPerOwnerMax); revoke some first`);
        }
        let id = op.id;
        if (id === 0) {
          id = Math.max(1, op.idFrom ?? 1);
          while (leases.get(id) !== undefined) id++;
        } else if (leases.get(id) !== undefined) {
          throw new MvccError('E_LEASE_EXISTS', `lease ${id} already exists`);
        }
        this.noteLease(leases.add(op.owner === undefined ? { id, ttl: op.ttl, remainingTtlMs: 0, refreshes: 0 } : { id, ttl: op.ttl, remainingTtlMs: 0, refreshes: 0, owner: op.owner }));
        return { type: 'leaseGrant', revision: this.revision, id, ttl: op.ttl };
      }
      case 'leaseRevoke': {
        const lease = ownedLease(leases, op.id, op.ifOwner);
        if (op.ifRefreshes !== undefined && op.ifRefreshes !== lease.refreshes) return { type: 'leaseRevoke', revision: this.revision, revoked: false };
        if (op.ifKeys !== undefined && !sameLeaseKeys(op.ifKeys, lease.keys)) {
          throw new MvccError('E_LEASE_KEYS_CHANGED', `the keys attached to lease ${op.id} changed since the revoke checked them; nothing was deleted`);
        }
        const keys = [...lease.keys].sort();
        if (keys.length > 0) {
          const main = this.revision + 1;
          await this.tombstoneKeys(keys, main, 0);
          this.revision = main;
        }
        leases.remove(op.id);
        this.leaseWrites.set(op.id, undefined);
        return { type: 'leaseRevoke', revision: this.revision, revoked: true };
      }
      case 'leaseKeepAlive': {
        const lease = ownedLease(leases, op.id, op.ifOwner);
        lease.remainingTtlMs = 0;
        lease.refreshes++;
        this.noteLease(lease);
        return { type: 'leaseKeepAlive', revision: this.revision, id: op.id, ttl: lease.ttl };
      }
      case 'leaseCheckpoint': {
        for (const { id, remainingTtlMs, refreshes } of op.checkpoints) {
          const lease = leases.get(id);
          if (lease === undefined || lease.refreshes !== refreshes) continue;
          lease.remainingTtlMs = remainingTtlMs;
          this.noteLease(lease);
        }
        return { type: 'leaseCheckpoint', revision: this.revision };
      }
    }
  }

  private noteLease(lease: LeaseRecord): void {
    this.leaseWrites.set(lease.id, leaseRecordOf(lease));
  }

  /** The lease a put attaches its key to, checked before anything changes. */
  private leaseForPut(op: PutRequest, key: string): number {
    if (op.ignoreLease === true) return this.ctx.leases.leaseOf(key);
    const id = op.lease ?? 0;
    if (id === 0) return 0;
    const lease = ownedLease(this.ctx.leases, id, op.ifLeaseOwner);
    if (!lease.keys.has(key) && lease.keys.size >= leaseKeysMax) {
      throw new MvccError('E_LIMIT', `lease ${id} already holds ${leaseKeysMax} keys (leaseKeysMax)`);
    }
    return id;
  }

  /** Attaches `key` to lease `id` (0: none), undone with the transaction it is part of. */
  private attach(key: string, id: number): void {
    const previous = this.ctx.leases.attach(key, id);
    if (previous === id) return;
    for (const changed of [previous, id]) {
      const lease = changed === 0 ? undefined : this.ctx.leases.get(changed);
      if (lease !== undefined) this.noteLease(lease);
    }
    this.undo?.push(() => this.ctx.leases.attach(key, previous));
  }

  private checkCompact(revision: number): void {
    if (revision <= this.ctx.compactRevision()) throw compactedError(revision, this.ctx.compactRevision());
    if (revision > this.revision) {
      throw new MvccError('E_FUTURE_REV', `compact revision ${revision} is after the current revision ${this.revision}`);
    }
  }

  private compact(revision: number): WriteResponse {
    const removed = this.ctx.index.compact(revision);
    this.ctx.markCompacted(revision);
    // A second compaction in the same batch takes over the first's removals. Pages are deleted in
    // ascending revision order (start-up relies on it), so the union is sorted again.
    const earlier = this.compaction?.removed;
    this.compaction = { revision, removed: earlier === undefined ? removed : sortPacked(earlier.concat(removed)) };
    return { type: 'compact', revision: this.revision, compactRevision: revision };
  }

  private async put(op: PutRequest, main: number, sub: number): Promise<PutResponse> {
    const key = keyToString(op.key);
    const prev = this.ctx.index.latest(key);
    if ((op.ignoreLease === true || op.ignoreValue === true) && prev === undefined) throw keptFromMissingKey(op);
    const lease = this.leaseForPut(op, key);
    const prevPage = prev !== undefined && (op.prevKv === true || op.ignoreValue === true || this.withPrevKv) ? await this.read(prev) : undefined;
    const prevKv = prevPage !== undefined && (op.prevKv === true || this.withPrevKv) ? pageToKv(prevPage) : undefined;
    if (prevKv !== undefined) this.carriedForWatchers(prevKv);
    const at = this.ctx.index.put(key, main, sub);
    this.undo?.push(() => this.ctx.index.undoPut(key, main, sub));
    this.attach(key, lease);
    const page: Page = {
      key: Uint8Array.from(op.key), value: Uint8Array.from(op.ignoreValue === true ? prevPage!.value : op.value), main, sub,
      createRevision: at.createRevision, version: at.version, tombstone: false,
      prevMain: prev?.main ?? 0, prevSub: prev?.sub ?? 0, lease,
    };
    this.addPage(page, key, prevKv);
    const response: PutResponse = { type: 'put', revision: main };
    if (op.prevKv === true && prevKv !== undefined) response.prevKv = prevKv;
    return response;
  }

  /**
   * Deletes the live keys of the op's range. With prevKv, their previous key-values are read first,
   * each counted against `budget` (the transaction's, or the op's own): a range whose previous values
   * exceed rangeResultBytesMax is refused with E_LIMIT before anything changes, on every member alike.
   */
  private async deleteRange(op: DeleteRangeRequest, main: number, firstSub: number, budget = new ReadBudget()): Promise<DeleteRangeResponse> {
    const keys: string[] = [];
    this.ctx.index.range(toSpan(op.key, op.end), latest, (key) => {
      keys.push(key);
      return true;
    });
    const prevPages = op.prevKv === true ? await this.readCounted(keys.map((key) => this.ctx.index.latest(key)!), budget) : undefined;
    const prevKvs = await this.tombstoneKeys(keys, main, firstSub, prevPages);
    const response: DeleteRangeResponse = { type: 'deleteRange', revision: main, deleted: keys.length };
    if (prevKvs !== undefined) response.prevKvs = prevKvs;
    return response;
  }

  /**
   * Deletes live `keys` at revision `main`, subs from `firstSub`, detaching them from their leases;
   * `prevPages`, when given, are the keys' latest pages (read by the caller), returned as key-values.
   */
  private async tombstoneKeys(keys: readonly string[], main: number, firstSub: number, prevPages?: readonly Page[]): Promise<KeyValue[] | undefined> {
    const prevKvs: KeyValue[] | undefined = prevPages === undefined ? undefined : [];
    let sub = firstSub;
    for (const [i, key] of keys.entries()) {
      const prev = this.ctx.index.latest(key)!;
      const prevPage = prevPages?.[i] ?? (this.withPrevKv ? await this.read(prev) : undefined);
      const prevKv = prevPage === undefined ? undefined : pageToKv(prevPage);
      if (prevKv !== undefined) {
        prevKvs?.push(prevKv);
        this.carriedForWatchers(prevKv);
      }
      this.ctx.index.tombstone(key, main, sub);
      const tombSub = sub;
      this.undo?.push(() => this.ctx.index.undoTombstone(key, main, tombSub));
      this.attach(key, 0);
      const page: Page = {
        key: stringToKey(key), value: new Uint8Array(0), main, sub, createRevision: 0, version: 0, tombstone: true,
        prevMain: prev.main, prevSub: prev.sub, lease: 0,
      };
      this.addPage(page, key, prevKv);
      sub++;
    }
    return prevKvs;
  }

  /**
   * Counts a previous key-value a change of this batch carries while prevKv watchers want them; past
   * batchWatchPrevKvBytesMax the batch stops carrying them, and the hub sends those watchers back to
   * reading the batch's changes from disk, a bounded step at a time (watch.ts notify).
   */
  private carriedForWatchers(prevKv: KeyValue): void {
    if (!this.withPrevKv) return;
    this.watchPrevKvBytes += prevKv.key.length + prevKv.value.length;
    if (this.watchPrevKvBytes > batchWatchPrevKvBytesMax) this.withPrevKv = false;
  }

  /**
   * A transaction is all or nothing: if a branch operation is refused halfway (its reads over the byte
   * budget, a compacted or future revision), its earlier index changes are undone and the result is
   * that error, the same on every member (the budget counts the same pages: read-budget.ts). Other
   * failures (a page that does not open) are not expected and propagate.
   */
  private async txnOrRollback(op: TxnRequest): Promise<ApplyResult> {
    const pagesMark = this.pages.length;
    const changesMark = this.changes.length;
    this.undo = [];
    // One budget for every read of the transaction: each level's compares, each range of the path that runs.
    const budget = new ReadBudget();
    try {
      return { ok: true, response: await this.txn(op, budget) };
    } catch (error) {
      budget.wipe();
      if (!(error instanceof MvccError) || error.code === 'E_INTEGRITY') throw error;
      for (const undo of this.undo.reverse()) undo();
      for (const page of this.pages.splice(pagesMark)) this.pending.delete(`${page.main}.${page.sub}`);
      this.changes.splice(changesMark);
      return { ok: false, error };
    } finally {
      this.undo = undefined;
    }
  }

  /**
   * As etcd applies a transaction: first the branch of every level is chosen, each level's compares
   * evaluated against the state before the transaction (compareToPath); then the chosen operations run in
   * order, nested ones in place, all at one revision with subs counted across levels.
   */
  private async txn(op: TxnRequest, budget: ReadBudget): Promise<TxnResponse> {
    const chosen = new Map<TxnRequest, boolean>();
    await chooseBranches(this.view, op, chosen, budget);
    const main = this.revision + 1;
    const counter = { sub: 0 };
    const response = await this.runBranch(op, chosen, main, counter, budget);
    if (counter.sub > 0) this.revision = main;
    stampRevision(response, this.revision);
    return response;
  }

  private async runBranch(op: TxnRequest, chosen: ReadonlyMap<TxnRequest, boolean>, main: number, counter: { sub: number }, budget: ReadBudget): Promise<TxnResponse> {
    const succeeded = chosen.get(op)!;
    const responses: TxnResponse['responses'] = [];
    for (const child of succeeded ? op.success : op.failure) {
      switch (child.type) {
        case 'range':
          // At the latest state, including the transaction's own writes so far.
          responses.push(await readRange(this.view, child, counter.sub > 0 ? main : this.revision, budget));
          break;
        case 'put':
          responses.push(await this.put(child, main, counter.sub));
          counter.sub++;
          break;
        case 'deleteRange': {
          const response = await this.deleteRange(child, main, counter.sub, budget);
          counter.sub += response.deleted;
          responses.push(response);
          break;
        }
        case 'txn':
          responses.push(await this.runBranch(child, chosen, main, counter, budget));
          break;
      }
    }
    return { type: 'txn', revision: main, succeeded, responses };
  }

  /**
   * Opens the pages of `revs` for a transaction's read, one at a time (a page of this batch is taken as
   * it is), each counted against `budget` as it opens; yields now and then on a long read.
   */
  private async readCounted(revs: readonly Revision[], budget: ReadBudget): Promise<Page[]> {
    const pages: Page[] = [];
    for (const rev of revs) {
      const own = this.pending.get(`${rev.main}.${rev.sub}`);
      const page = own ?? await this.ctx.readPage(rev.main, rev.sub);
      budget.take(page.key, page.value, own === undefined);
      pages.push(page);
      if (budget.yieldDue()) await this.ctx.yieldToEventLoop();
    }
    return pages;
  }

  private read(rev: Revision): Promise<Page> {
    const page = this.pending.get(`${rev.main}.${rev.sub}`);
    return page !== undefined ? Promise.resolve(page) : this.ctx.readPage(rev.main, rev.sub);
  }

  private addPage(page: Page, key: string, prevKv: KeyValue | undefined): void {
    this.pages.push(page);
    this.pending.set(`${page.main}.${page.sub}`, page);
    const kv = page.tombstone
      ? { key: page.key, value: page.value, createRevision: 0, modRevision: page.main, version: 0, lease: 0 }
      : pageToKv(page);
    const event = prevKv === undefined ? { type: page.tombstone ? 'delete' as const : 'put' as const, kv }
      : { type: page.tombstone ? 'delete' as const : 'put' as const, kv, prevKv };
    this.changes.push({ key, main: page.main, event });
  }
}

/** The revision a transaction's writes and nested transactions answer with: the transaction's own, known once it ran. */
function stampRevision(response: TxnResponse, revision: number): void {
  response.revision = revision;
  for (const r of response.responses) {
    if (r.type === 'txn') stampRevision(r, revision);
    else if (r.type !== 'range') r.revision = revision;
  }
}

/** A put that keeps the key's lease or value, of a key that does not exist (etcd's ErrKeyNotFound). */
function keptFromMissingKey(op: PutRequest): MvccError {
  const kept = op.ignoreValue === true ? 'value (ignore_value)' : 'lease (ignore_lease)';
  return new MvccError('E_BAD_REQUEST', `a put that keeps the key's ${kept} needs the key to exist: etcdserver: key not found`);
}
