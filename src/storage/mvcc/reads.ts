/**
 * The read path: opening pages by revision, range reads at a revision, the view a transaction that
 * writes nothing reads (read-txn.ts), and the history watchers replay.
 *
 * Invariants: a read validates its revision against the visible revision and the compact revision,
 * walks the index and takes its pages from the page cache or a LevelDB snapshot in one synchronous step,
 * so it sees exactly the pages of a committed revision (store.ts, "Ordering", rule 3); a cached page is
 * byte for byte the page LevelDB holds (page-cache.ts); a page the index points to that is missing
 * or does not open is E_INTEGRITY naming its revision, never wrong data; plaintext values not handed
 * to the caller are wiped. A request's reads open their pages one at a time against its byte budget
 * (read-budget.ts) and read LevelDB in steps no larger than what the budget has left, so a read refused
 * for its size has opened about rangeResultBytesMax, not all it asked for.
 */
import { rangeResultBytesMax, watchReplayRevisionBytesMax, watchReplayStepBytesMax } from '../../config/index.ts';
import { MvccError, compactedError } from './errors.ts';
import type { KeyAt } from './key-index.ts';
import { type KeySpan, keyToString, spanContains } from './keys.ts';
import type { Snapshot } from './level.ts';
import { type Page, openPage } from './page.ts';
import type { ReadAccount } from './read-account.ts';
import { ReadBudget, pageReadStep } from './read-budget.ts';
import { type Revision, decodeRevisionKey, encodeRevisionKey, revisionKeyRange } from './revision.ts';
import type { StoreState } from './state.ts';
import { type TxnReadView, pageToKv, readRange } from './txn-reads.ts';
import type { RangeOptions, RangeResponse } from './types.ts';
import { checkRange, checkRangeOptions } from './validate.ts';
import { type HistoryStep, type WatchEvent, wipeEvents } from './watch.ts';

/** Pages (or sealed records) read from LevelDB in one step of a walk (read-budget.ts). */
export { pageReadStep };

/**
 * Reads and opens pages (in the given order) from LevelDB, through `snapshot` when given; a missing
 * page is an integrity failure. The walks that check the disk (HashKV) and copy it (snapshots) read
 * here; requests read through readPagesCached.
 */
export async function readPages(state: StoreState, revs: readonly Revision[], snapshot?: Snapshot): Promise<Page[]> {
  if (revs.length === 0) return [];
  return openPages(state, revs, await readSealed(state, revs, snapshot));
}

/** readPages, taking the pages the page cache holds from it. */
export async function readPagesCached(state: StoreState, revs: readonly Revision[], snapshot?: Snapshot): Promise<Page[]> {
  if (revs.length === 0) return [];
  const cached = revs.map((r) => state.pages.get(r.main, r.sub));
  return openPages(state, revs, cached.includes(undefined) ? await readMissing(state, revs, cached, snapshot) : cached);
}

/** The sealed pages of `revs` as LevelDB holds them (undefined where missing). */
function readSealed(state: StoreState, revs: readonly Revision[], snapshot?: Snapshot): Promise<(Uint8Array | undefined)[]> {
  const keys = revs.map((r) => encodeRevisionKey(r.main, r.sub));
  // Without a snapshot of ours, the read takes one of its own for as long as it runs.
  return snapshot === undefined ? state.readers.during(() => state.db.getMany(keys)) : state.db.getMany(keys, { snapshot });
}

/** `cached` with each missing page read from LevelDB. */
async function readMissing(state: StoreState, revs: readonly Revision[], cached: readonly (Uint8Array | undefined)[], snapshot?: Snapshot): Promise<(Uint8Array | undefined)[]> {
  const missing = revs.flatMap((r, i) => (cached[i] === undefined ? [i] : []));
  const values = await readSealed(state, missing.map((i) => revs[i]!), snapshot);
  const all = [...cached];
  missing.forEach((i, k) => {
    all[i] = values[k];
  });
  return all;
}

function openPages(state: StoreState, revs: readonly Revision[], values: readonly (Uint8Array | undefined)[]): Page[] {
  return revs.map((r, i) => openOne(state, r, values[i]));
}

function openOne(state: StoreState, r: Revision, sealed: Uint8Array | undefined): Page {
  if (sealed === undefined) {
    throw new MvccError('E_INTEGRITY', `the page of revision ${r.main}.${r.sub} is missing`, { revision: r.main });
  }
  return openPage(state.sealer, state.storeId, sealed, r.main, r.sub);
}

/** Packed revisions [main, sub, ...] in runs of at most pageReadStep, for readPages. */
export function* revisionRuns(packed: readonly number[]): Generator<Revision[]> {
  for (let i = 0; i < packed.length; i += 2 * pageReadStep) {
    const revs: Revision[] = [];
    for (let j = i; j < Math.min(packed.length, i + 2 * pageReadStep); j += 2) revs.push({ main: packed[j]!, sub: packed[j + 1]! });
    yield revs;
  }
}

/** MvccStore.range: one request, with a budget of its own. */
export async function range(state: StoreState, key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions, account?: ReadAccount): Promise<RangeResponse> {
  state.checkUsable();
  checkRange(key, end);
  checkRangeOptions(options);
  const view = new CommittedView(state);
  const budget = new ReadBudget(rangeResultBytesMax, account);
  try {
    // The walk, the page cache's pages and the snapshot for the others are taken in this synchronous step.
    return await readRange(view, { type: 'range', key, ...(end === undefined ? {} : { end }), options }, view.at, budget);
  } catch (error) {
    budget.wipe();
    throw error;
  } finally {
    await view.close();
  }
}

/**
 * The store as of its visible revision when the view was made (`at`), for a read that spans several
 * walks (a transaction that writes nothing: read-txn.ts) or one (a range). A walk at `at` is exact only
 * while no compaction has passed `at` (it drops revisions `at` needs): a walk after one throws
 * StaleViewError, and the reader starts again from a new view. The pages the page cache does not hold
 * are read through one LevelDB snapshot, taken at the first such read, while no compaction has passed
 * `at` — so it holds every page live at `at` (physical compaction deletes only pages superseded by then).
 */
export class CommittedView implements TxnReadView {
  readonly at: number;
  private snapshot: Snapshot | undefined;

  constructor(private readonly state: StoreState) {
    this.at = state.revision;
  }

  newest(): number {
    return this.at;
  }

  compactRevision(): number {
    return this.state.compactRev;
  }

  walk(span: KeySpan, at: number, visit: (key: string, keyAt: KeyAt) => boolean): void {
    this.checkCurrent();
    this.state.index.range(span, at, visit);
  }

  readPages(revs: readonly Revision[], budget: ReadBudget): Promise<Page[]> {
    if (revs.length === 0) return Promise.resolve([]);
    const cached = revs.map((r) => this.state.pages.get(r.main, r.sub));
    if (cached.includes(undefined) && this.snapshot === undefined) {
      this.checkCurrent();
      this.snapshot = this.state.snapshot();
    }
    return readBudgeted(this.state, revs, cached, budget, this.snapshot);
  }

  /** A key's lease as of `at` is its page's (the table holds the latest state, and a batch's changes while it applies). */
  async leaseOf(_key: string, keyAt: KeyAt, budget: ReadBudget): Promise<number> {
    const [page] = await this.readPages([keyAt.mod], budget);
    page!.value.fill(0);
    return page!.lease;
  }

  shares(): boolean {
    return false;
  }

  /** Releases the snapshot, if one was taken. */
  async close(): Promise<void> {
    if (this.snapshot !== undefined) await this.state.closeSnapshot(this.snapshot);
    this.snapshot = undefined;
  }

  private checkCurrent(): void {
    this.state.checkUsable();
    if (this.state.compactRev > this.at) throw new StaleViewError(this.at, this.state.compactRev);
  }
}

/** A compaction passed the revision a view reads at, while it read (CommittedView): E_COMPACTED if the reader does not start again. */
export class StaleViewError extends MvccError {
  constructor(at: number, compactRevision: number) {
    super('E_COMPACTED', compactedError(at, compactRevision).message, { compactRevision });
  }
}

/**
 * Opens the pages of `revs` in order, each counted against `budget` as it opens (`cached`: the page
 * cache's sealed pages, taken with the walk): those the cache does not hold are read through `snapshot`
 * in steps of at most ReadBudget.stepPages pages, so a read the budget stops has read about the budget
 * from disk, not the rest of its range. Yields every few MiB opened.
 */
async function readBudgeted(
  state: StoreState, revs: readonly Revision[], cached: readonly (Uint8Array | undefined)[], budget: ReadBudget, snapshot: Snapshot | undefined,
): Promise<Page[]> {
  const pages: Page[] = [];
  let i = 0;
  while (i < revs.length) {
    // The step: pages up to the next stepPages() the cache does not hold (at most pageReadStep in all).
    const most = budget.stepPages();
    let end = i;
    let missing = 0;
    while (end < revs.length && end - i < pageReadStep && (cached[end] !== undefined || missing < most)) {
      if (cached[end] === undefined) missing++;
      end++;
    }
    const stepRevs = revs.slice(i, end);
    const stepCached = cached.slice(i, end);
    const sealed = missing > 0 ? await readMissing(state, stepRevs, stepCached, snapshot) : stepCached;
    for (let k = 0; k < stepRevs.length; k++) {
      const page = openOne(state, stepRevs[k]!, sealed[k]);
      budget.take(page.key, page.value, true);
      pages.push(page);
      if (budget.yieldDue()) await state.yieldToEventLoop();
    }
    i = end;
  }
  return pages;
}

/** Previous values one replay reads at a time, so a revision over watchReplayRevisionBytesMax is refused having opened about that much. */
const prevPagesReadStep = 16;

/** The refusal of a replay that reaches a revision whose changes for the watch exceed watchReplayRevisionBytesMax. */
export function replayRevisionTooLargeError(revision: number): MvccError {
  return new MvccError(
    'E_LIMIT',
    `revision ${revision} holds more than watchReplayRevisionBytesMax (${watchReplayRevisionBytesMax}) bytes of changes for this watch, previous values included; watch from a later revision, or without previous values`,
    { revision },
  );
}

/**
 * Changes in `span` with main in [fromMain, toMain] (the watch hub's HistorySource.history), whole
 * revisions only and as many as watchReplayStepBytesMax allows, at least one: `through` is the last
 * revision read. A revision whose changes in `span` (previous values included, with `prevKv`) exceed
 * watchReplayRevisionBytesMax is refused (E_LIMIT) once about that much is open, and what the step
 * opened is wiped: one delete of a large range is not held whole by every watcher replaying it.
 */
export async function history(state: StoreState, span: KeySpan, fromMain: number, toMain: number, prevKv: boolean): Promise<HistoryStep> {
  state.checkUsable();
  if (state.compactRev > 0 && fromMain <= state.compactRev) throw compactedError(fromMain, state.compactRev);
  const upTo = Math.min(toMain, state.revision);
  const snapshot = state.snapshot();
  const events: WatchEvent[] = [];
  try {
    let wantPrev: { event: WatchEvent; main: number; sub: number }[] = [];
    let bytes = 0;
    // The revision whose pages are being read, and the bytes of its changes read so far.
    let main = fromMain - 1;
    let revisionBytes = 0;
    const count = (n: number): void => {
      bytes += n;
      revisionBytes += n;
      if (revisionBytes > watchReplayRevisionBytesMax) throw replayRevisionTooLargeError(main);
    };
    // Its events' previous values are read when it ends.
    const endRevision = async (): Promise<void> => {
      for (let i = 0; i < wantPrev.length; i += prevPagesReadStep) {
        const step = wantPrev.slice(i, i + prevPagesReadStep);
        const prevPages = await readPagesCached(state, step, snapshot);
        step.forEach((w, k) => {
          w.event.prevKv = pageToKv(prevPages[k]!);
        });
        for (const w of step) count(w.event.prevKv!.key.length + w.event.prevKv!.value.length);
      }
      wantPrev = [];
    };
    const iterator = state.db.iterator({ ...revisionKeyRange(fromMain, upTo), snapshot });
    try {
      for (;;) {
        const entries = await iterator.nextv(pageReadStep);
        if (entries.length === 0) break;
        for (const [key, sealed] of entries) {
          const at = decodeRevisionKey(key);
          if (at.main !== main) {
            await endRevision();
            if (bytes >= watchReplayStepBytesMax) return { events, through: main };
            main = at.main;
            revisionBytes = 0;
          }
          const page = openPage(state.sealer, state.storeId, sealed, at.main, at.sub);
          if (!spanContains(span, keyToString(page.key))) {
            page.value.fill(0);
            continue;
          }
          const event: WatchEvent = page.tombstone
            ? { type: 'delete', kv: { key: page.key, value: page.value, createRevision: 0, modRevision: at.main, version: 0, lease: 0 } }
            : { type: 'put', kv: pageToKv(page) };
          events.push(event);
          count(page.key.length + page.value.length);
          if (prevKv && page.prevMain > 0) wantPrev.push({ event, main: page.prevMain, sub: page.prevSub });
        }
      }
    } finally {
      await iterator.close();
    }
    await endRevision();
    return { events, through: upTo };
  } catch (error) {
    wipeEvents(events);
    throw error;
  } finally {
    await state.closeSnapshot(snapshot);
  }
}
