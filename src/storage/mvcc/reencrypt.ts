/**
 * Re-encryption after a DEK rotation, driven in steps by the barrier's Reencrypter: re-sealing records
 * whose header names another DEK under the active one, and counting the records each DEK seals.
 *
 * Invariants: a step runs as one write in the store's write queue, so it never interleaves with an
 * apply batch or the meta update of a compaction; it keeps each page's plaintext and position; a page
 * already removed from the index by a compaction (physical deletion pending) is left alone, so it cannot
 * be resurrected; a failed step's write fails the store (E_FAILED). Counting reads headers only, over one
 * LevelDB snapshot, opening nothing.
 */
import { assert } from '../../base/index.ts';
import { MvccError } from './errors.ts';
import { checkpointKeyRange, forgetIndexCheckpoint } from './index-checkpoint.ts';
import { keyToString } from './keys.ts';
import { decodeLeaseKey, leaseKeyRange, openLease, sealLease } from './lease-record.ts';
import { resealPage, sealMeta } from './page.ts';
import { pageReadStep } from './reads.ts';
import { decodeRevisionKey, metaRecordKey, revisionKeyRange } from './revision.ts';
import { writeBatch } from './level.ts';
import type { StoreState } from './state.ts';

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

/** MvccStore.reencryptStep. */
export function reencryptStep(
  state: StoreState, after: Uint8Array | undefined, limits: { pagesMax: number; scanMax: number },
): Promise<ReencryptStepResult> {
  assert(limits.pagesMax >= 1 && limits.scanMax >= limits.pagesMax, 're-encryption limits are positive and scanMax >= pagesMax');
  // Its iterators read without a snapshot of ours: the step counts as a reader while it runs.
  return state.exclusive(() => state.readers.during(async () => {
    state.checkUsable();
    const active = state.sealer.activeDekId();
    const range = revisionKeyRange(0, Number.MAX_SAFE_INTEGER);
    const iterator = state.db.iterator({
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
          if (state.sealer.dekIdOf(sealed) === active) continue;
          const { main, sub } = decodeRevisionKey(key);
          // The cached copy is under the old DEK too; the next read takes the re-sealed page from disk.
          state.pages.delete(main, sub);
          // Above the compact revision no page is ever deleted; at or below it, only pages the index holds stay.
          const keep = main > state.compactRev ? () => true : (k: Uint8Array) => state.index.holds(keyToString(k), main, sub);
          const value = resealPage(state.sealer, state.storeId, sealed, main, sub, keep);
          if (value !== undefined) batch.push({ type: 'put', key, value });
        }
      }
    } finally {
      await iterator.close();
    }
    // The walk is over: the lease records (at most leasesMax, small) move in the same last batch, and an
    // index checkpoint with a record on an older DEK goes (the checkpointer or the close writes the next under the active one).
    const dropped: Uint8Array[] = [];
    if (end) {
      for await (const [key, sealed] of state.db.iterator({ ...leaseKeyRange, fillCache: false })) {
        if (state.sealer.dekIdOf(sealed) === active) continue;
        const id = decodeLeaseKey(key);
        batch.push({ type: 'put', key, value: sealLease(state.sealer, state.storeId, openLease(state.sealer, state.storeId, sealed, id)) });
      }
      const checkpoint = await state.db.iterator({ ...checkpointKeyRange, fillCache: false }).all();
      if (checkpoint.some(([, sealed]) => state.sealer.dekIdOf(sealed) !== active)) dropped.push(...checkpoint.map(([key]) => key));
    }
    batch.push({ type: 'put', key: metaRecordKey, value: sealMeta(state.sealer, state.meta(state.applied, state.revision)) });
    try {
      await writeBatch(state.db, [...batch, ...dropped.map((key) => ({ type: 'del' as const, key }))], { sync: state.sync });
    } catch (error) {
      throw state.failWith(new MvccError('E_FAILED', 're-encrypting pages failed; reopen the store', { cause: error }));
    }
    if (dropped.length > 0) forgetIndexCheckpoint(state);
    return { next: end ? undefined : last, scanned, resealed: batch.length - 1, activeDekId: active };
  }));
}

/**
 * How many records (revision pages, lease records, the meta record and the index checkpoint's records)
 * name each DEK in their header,
 * read from the headers without opening anything, over one point-in-time view of the store.
 */
export async function pagesPerDek(state: StoreState): Promise<Map<number, number>> {
  state.checkUsable();
  const counts = new Map<number, number>();
  const snapshot = state.snapshot();
  try {
    const meta = await state.db.get(metaRecordKey, { snapshot });
    if (meta !== undefined) counts.set(state.sealer.dekIdOf(meta), 1);
    for (const range of [revisionKeyRange(0, Number.MAX_SAFE_INTEGER), leaseKeyRange, checkpointKeyRange]) {
      const iterator = state.db.values({ ...range, snapshot, fillCache: false });
      try {
        for (;;) {
          const values = await iterator.nextv(pageReadStep);
          if (values.length === 0) break;
          for (const sealed of values) {
            const id = state.sealer.dekIdOf(sealed);
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
          await state.yieldToEventLoop();
        }
      } finally {
        await iterator.close();
      }
    }
  } finally {
    await state.closeSnapshot(snapshot);
  }
  return counts;
}
