/**
 * The read path: opening pages by revision, range reads at a revision, and the history watchers replay.
 *
 * Invariants: a read validates its revision against the visible revision and the compact revision,
 * walks the index and takes its pages from the page cache or a LevelDB snapshot in one synchronous step,
 * so it sees exactly the pages of a committed revision (store.ts, "Ordering", rule 3); a cached page is
 * byte for byte the page LevelDB holds (page-cache.ts); a page the index points to that is missing
 * or does not open is E_INTEGRITY naming its revision, never wrong data; plaintext values not handed
 * to the caller are wiped.
 */
import { rangeResultBytesMax, watchReplayStepBytesMax } from '../../config/index.ts';
import { pageToKv } from './apply.ts';
import { MvccError, compactedError } from './errors.ts';
import type { KeyAt } from './key-index.ts';
import { type KeySpan, keyToString, spanContains, stringToKey, toSpan } from './keys.ts';
import type { Level } from './level.ts';
import { type Page, openPage } from './page.ts';
import { type Revision, decodeRevisionKey, encodeRevisionKey, revisionKeyRange } from './revision.ts';
import type { StoreState } from './state.ts';
import type { KeyValue, RangeOptions, RangeResponse } from './types.ts';
import { checkRange, checkRangeOptions } from './validate.ts';
import type { HistoryStep, WatchEvent } from './watch.ts';

export type Snapshot = ReturnType<Level['snapshot']>;

/** Pages (or sealed records) read from LevelDB in one step of a walk. */
export const pageReadStep = 1000;

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
  return snapshot === undefined ? state.db.getMany(keys) : state.db.getMany(keys, { snapshot });
}

/** `cached` with each missing page read from LevelDB. */
async function readMissing(state: StoreState, revs: readonly Revision[], cached: (Uint8Array | undefined)[], snapshot?: Snapshot): Promise<(Uint8Array | undefined)[]> {
  const missing = revs.flatMap((r, i) => (cached[i] === undefined ? [i] : []));
  const values = await readSealed(state, missing.map((i) => revs[i]!), snapshot);
  const all = [...cached];
  missing.forEach((i, k) => {
    all[i] = values[k];
  });
  return all;
}

function openPages(state: StoreState, revs: readonly Revision[], values: readonly (Uint8Array | undefined)[]): Page[] {
  return revs.map((r, i) => {
    const sealed = values[i];
    if (sealed === undefined) {
      throw new MvccError('E_INTEGRITY', `the page of revision ${r.main}.${r.sub} is missing`, { revision: r.main });
    }
    return openPage(state.sealer, state.storeId, sealed, r.main, r.sub);
  });
}

/** Packed revisions [main, sub, ...] in runs of at most pageReadStep, for readPages. */
export function* revisionRuns(packed: readonly number[]): Generator<Revision[]> {
  for (let i = 0; i < packed.length; i += 2 * pageReadStep) {
    const revs: Revision[] = [];
    for (let j = i; j < Math.min(packed.length, i + 2 * pageReadStep); j += 2) revs.push({ main: packed[j]!, sub: packed[j + 1]! });
    yield revs;
  }
}

/** MvccStore.range. */
export async function range(state: StoreState, key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions): Promise<RangeResponse> {
  state.checkUsable();
  checkRange(key, end);
  checkRangeOptions(options);
  const atMain = options.revision === undefined || options.revision === 0 ? state.revision : options.revision;
  if (atMain > state.revision) throw new MvccError('E_FUTURE_REV', `range revision ${atMain} is after the current revision ${state.revision}`);
  if (atMain < state.compactRev) throw compactedError(atMain, state.compactRev);
  const header = state.revision;
  const limit = options.limit ?? 0;
  const found: { key: string; at: KeyAt }[] = [];
  let count = 0;
  state.index.range(toSpan(key, end), atMain, (k, at) => {
    count++;
    if (options.countOnly !== true && (limit === 0 || found.length < limit)) found.push({ key: k, at });
    return true;
  });
  const revs = options.keysOnly === true ? [] : found.map((f) => f.at.mod);
  const cached = revs.map((r) => state.pages.get(r.main, r.sub));
  // Synchronous with the checks and the walk above: the snapshot holds every page the index points to
  // (a cached page is the disk's, as of now).
  const snapshot = cached.includes(undefined) ? state.db.snapshot() : undefined;
  try {
    let kvs: KeyValue[];
    if (options.keysOnly === true) {
      kvs = found.map(({ key: k, at }) => ({
        key: stringToKey(k), value: new Uint8Array(0), createRevision: at.createRevision, modRevision: at.mod.main, version: at.version, lease: 0,
      }));
    } else {
      const sealed = snapshot === undefined ? cached : await readMissing(state, revs, cached, snapshot);
      kvs = openPages(state, revs, sealed).map(pageToKv);
    }
    let bytes = 0;
    for (const kv of kvs) bytes += kv.key.length + kv.value.length;
    if (bytes > rangeResultBytesMax) {
      for (const kv of kvs) kv.value.fill(0);
      throw new MvccError('E_LIMIT', `range result of ${bytes} bytes exceeds rangeResultBytesMax (${rangeResultBytesMax}); use a limit`);
    }
    return { type: 'range', kvs, count, more: limit > 0 && count > limit, revision: header };
  } finally {
    await snapshot?.close();
  }
}

/**
 * Changes in `span` with main in [fromMain, toMain] (the watch hub's HistorySource.history), whole
 * revisions only and as many as watchReplayStepBytesMax allows, at least one: `through` is the last
 * revision read.
 */
export async function history(state: StoreState, span: KeySpan, fromMain: number, toMain: number, prevKv: boolean): Promise<HistoryStep> {
  state.checkUsable();
  if (state.compactRev > 0 && fromMain <= state.compactRev) throw compactedError(fromMain, state.compactRev);
  const upTo = Math.min(toMain, state.revision);
  const snapshot = state.db.snapshot();
  try {
    const events: WatchEvent[] = [];
    let wantPrev: { event: WatchEvent; main: number; sub: number }[] = [];
    let bytes = 0;
    // The revision whose pages are being read; its events' previous values are read when it ends.
    let main = fromMain - 1;
    const endRevision = async (): Promise<void> => {
      const prevPages = await readPagesCached(state, wantPrev, snapshot);
      wantPrev.forEach((w, i) => {
        w.event.prevKv = pageToKv(prevPages[i]!);
        bytes += w.event.prevKv.key.length + w.event.prevKv.value.length;
      });
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
          bytes += page.key.length + page.value.length;
          if (prevKv && page.prevMain > 0) wantPrev.push({ event, main: page.prevMain, sub: page.prevSub });
        }
      }
    } finally {
      await iterator.close();
    }
    await endRevision();
    return { events, through: upTo };
  } finally {
    await snapshot.close();
  }
}
