/**
 * Physical compaction: deleting the pages a logical compaction superseded (the index already dropped
 * them, and readers already refuse revisions before the compact revision), in the background.
 *
 * Invariants: pages are deleted only after the compaction is recorded in meta (the batch that applied
 * it, or a meta record found at open), in steps of compactionStepKeysMax with a yield between steps
 * (store.ts, "Ordering", rule 4); compactions run one after another, in the order scheduled; once
 * every page is gone, meta records the finished compact revision in the write queue. A store closed
 * meanwhile stops between steps and resumes at the next open (load.ts); a failed step fails the store.
 */
import { compactionStepKeysMax } from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { sealMeta } from './page.ts';
import { encodeRevisionKey, metaRecordKey } from './revision.ts';
import { writeBatch } from './level.ts';
import type { StoreState } from './state.ts';

export class PhysicalCompaction {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly state: StoreState) {}

  /** Queues the deletion of `removed` (packed [main, sub, ...]), the pages compaction at `revision` superseded. */
  schedule(revision: number, removed: readonly number[]): void {
    const state = this.state;
    this.tail = this.tail.then(async () => {
      try {
        for (let i = 0; i < removed.length; i += 2 * compactionStepKeysMax) {
          if (state.closed) return; // resumed at the next open
          const batch: { type: 'del'; key: Uint8Array }[] = [];
          for (let j = i; j < Math.min(removed.length, i + 2 * compactionStepKeysMax); j += 2) {
            batch.push({ type: 'del', key: encodeRevisionKey(removed[j]!, removed[j + 1]!) });
            state.pages.delete(removed[j]!, removed[j + 1]!);
          }
          // The sizes of the pages going, for pageBytes (a page a resumed compaction deleted before is absent).
          const going = await state.readers.during(() => state.db.getMany(batch.map((op) => op.key)));
          await writeBatch(state.db, batch);
          going.forEach((sealed, k) => {
            if (sealed === undefined) return;
            state.pageBytes -= batch[k]!.key.length + sealed.length;
            state.pageCount--;
          });
          await state.yieldToEventLoop();
        }
        if (state.closed) return;
        await state.exclusive(async () => {
          if (state.closed || state.failed !== undefined) return;
          state.finishedCompactRev = Math.max(state.finishedCompactRev, revision);
          await state.db.put(metaRecordKey, sealMeta(state.sealer, state.meta(state.applied, state.revision)), { sync: state.sync });
        });
      } catch (error) {
        state.failWith(new MvccError('E_FAILED', `physical compaction at revision ${revision} failed; reopen the store`, { cause: error }));
      }
    });
  }

  /** Settles when every compaction scheduled so far has finished or stopped (it never rejects). */
  settled(): Promise<void> {
    return this.tail;
  }
}
