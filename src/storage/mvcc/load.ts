/**
 * Loading a store at open: reads the meta record and the lease table, rebuilds the key index — from
 * the index checkpoint (index-checkpoint.ts) and the pages written after it, or else from every page —
 * and resumes an interrupted physical compaction.
 *
 * Invariants: a store with no meta record is new only if it holds nothing else (pages without meta
 * are an interrupted snapshot import: E_CORRUPT); no page lies after the recorded revision; above the
 * compact revision every page names the key's previous revision, which is always kept, so a missing
 * or replayed page is E_INTEGRITY; each key's latest page names a lease the store holds. Every page
 * is read once, kept out of LevelDB's block cache, and its plaintext value wiped. An open from the
 * checkpoint checks the pages it replays as the scan does, and the leases, and leaves a missing page
 * before the checkpoint's revision to be found by the read that needs it (reads.ts: E_INTEGRITY).
 */
import { assert } from '../../base/index.ts';
import type { PhysicalCompaction } from './compaction.ts';
import { MvccError } from './errors.ts';
import { keyToString } from './keys.ts';
import { decodeLeaseKey, leaseKeyRange, openLease } from './lease-record.ts';
import { readIndexCheckpoint } from './index-checkpoint.ts';
import { isEmpty } from './level.ts';
import { type Page, openMeta, openPage, sealMeta } from './page.ts';
import { pageReadStep } from './reads.ts';
import { decodeRevisionKey, isRevisionKey, metaRecordKey, revisionKeyRange } from './revision.ts';
import type { StoreState } from './state.ts';

/** How an open rebuilt the key index, for the member's log. */
export type IndexSource = { from: 'new store' } | { from: 'checkpoint'; revision: number; pagesReplayed: number } | { from: 'scan'; why: string };

/**
 * Reads meta and rebuilds the index — from the index checkpoint and the pages after it, or else from
 * every page; resumes an interrupted physical compaction.
 */
export async function load(state: StoreState, compaction: PhysicalCompaction): Promise<IndexSource> {
  const sealedMeta = await state.db.get(metaRecordKey);
  if (sealedMeta === undefined) {
    if (!(await isEmpty(state.db))) {
      throw new MvccError('E_CORRUPT', 'the store holds pages but no meta record (an interrupted snapshot import?)');
    }
    await state.db.put(metaRecordKey, sealMeta(state.sealer, state.meta(0, 0)), { sync: true });
    return { from: 'new store' };
  }
  const meta = openMeta(state.sealer, state.storeId, sealedMeta);
  assert(meta.storeId === state.storeId, 'the meta record names this store (it is bound to it)');
  state.applied = meta.appliedIndex;
  state.revision = meta.revision;
  state.compactRev = meta.compactRevision;
  state.finishedCompactRev = meta.finishedCompactRevision;
  for await (const [key, sealed] of state.db.iterator({ ...leaseKeyRange, fillCache: false })) {
    const id = decodeLeaseKey(key);
    state.leaseTable.add(openLease(state.sealer, state.storeId, sealed, id));
  }
  const checkpoint = await readIndexCheckpoint(state);
  if ('restored' in checkpoint) {
    const { revision, keys, order, histories, keyLeases } = checkpoint.restored;
    state.index.restoreSorted(keys, order, histories);
    state.pageBytes = checkpoint.restored.pageBytes;
    state.pageCount = checkpoint.restored.pageCount;
    const pagesReplayed = await replayPages(state, revision + 1, keyLeases);
    state.pagesSinceCheckpoint = pagesReplayed;
    attachLeases(state, keyLeases);
    // A checkpoint is used only while the compaction it was written at is the store's, and finished.
    return { from: 'checkpoint', revision, pagesReplayed };
  }
  const keyLeases = new Map<string, number>();
  state.index.beginRestore();
  state.pagesSinceCheckpoint = await replayPages(state, 0, keyLeases);
  state.index.finishRestore();
  attachLeases(state, keyLeases);
  if (state.compactRev > 0) {
    const removed = state.index.compact(state.compactRev);
    if (removed.length > 0 || state.finishedCompactRev < state.compactRev) compaction.schedule(state.compactRev, removed);
  }
  return { from: 'scan', why: checkpoint.unused };
}

/** Opens every page from revision `fromMain` on into the index, noting each key's lease as of its latest page; returns their number. */
async function replayPages(state: StoreState, fromMain: number, keyLeases: Map<string, number>): Promise<number> {
  let count = 0;
  // Each page is read once here; keep them out of LevelDB's block cache (fillCache: false).
  const iterator = state.db.iterator({ ...revisionKeyRange(fromMain, Number.MAX_SAFE_INTEGER), fillCache: false });
  try {
    for (;;) {
      const entries = await iterator.nextv(pageReadStep);
      if (entries.length === 0) break;
      for (const [key, sealed] of entries) restorePage(state, key, sealed, keyLeases);
      count += entries.length;
    }
  } finally {
    await iterator.close();
  }
  return count;
}

function pageAfterRevision(state: StoreState, main?: number, sub?: number): MvccError {
  const which = main === undefined ? 'a page lies' : `page ${main}.${sub} is`;
  return new MvccError('E_CORRUPT', `${which} after the recorded revision ${state.revision}`);
}

/** Opens one page into the index, noting its key's lease in `keyLeases`. */
function restorePage(state: StoreState, key: Uint8Array, sealed: Uint8Array, keyLeases: Map<string, number>): void {
  assert(isRevisionKey(key), 'only revision pages lie in the revision key range');
  const { main, sub } = decodeRevisionKey(key);
  if (main > state.revision) throw pageAfterRevision(state, main, sub);
  const page = openPage(state.sealer, state.storeId, sealed, main, sub);
  state.pageBytes += key.length + sealed.length;
  state.pageCount++;
  const k = keyToString(page.key);
  if (main > state.compactRev) checkChain(state, k, page);
  if (page.tombstone) state.index.restoreTombstone(k, main, sub);
  else state.index.restorePut(k, main, sub, page.createRevision, page.version);
  keyLeases.set(k, page.lease);
  page.value.fill(0);
}

/**
 * Above the compact revision every page names the key's previous revision (or none, for a creation),
 * and that revision is always kept; a mismatch means a page was deleted or replayed from elsewhere.
 */
function checkChain(state: StoreState, key: string, page: Page): void {
  const latest = state.index.latest(key);
  const ok = page.prevMain === 0 ? latest === undefined
    : latest !== undefined && latest.main === page.prevMain && latest.sub === page.prevSub;
  if (!ok) {
    throw new MvccError('E_INTEGRITY', `the page of revision ${page.main}.${page.sub} does not follow the key's previous page (a page is missing)`, {
      revision: page.main,
    });
  }
}

/** Attaches each key to the lease its latest page names; that lease must be one the store holds. */
function attachLeases(state: StoreState, keyLeases: Map<string, number>): void {
  for (const [key, id] of keyLeases) {
    if (id === 0) continue;
    if (state.leaseTable.get(id) === undefined) throw new MvccError('E_CORRUPT', `a key's latest page names lease ${id}, which the store does not hold`);
    state.leaseTable.attach(key, id);
  }
}
