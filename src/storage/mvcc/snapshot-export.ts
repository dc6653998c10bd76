/**
 * Snapshot export: the store as a stream of plaintext logical records — a header, then every page
 * still held at the current revision in revision order, then every lease. The receiver re-seals them
 * with its own keys (snapshot-import.ts); the consumer should wipe values it has finished with.
 *
 * Invariant: the header, the index walk and the leases are taken in one synchronous step with the
 * LevelDB snapshot the pages are read from, so the stream is one committed revision.
 */
import type { LeaseRecord } from './lease-table.ts';
import type { Page } from './page.ts';
import { readPages, revisionRuns } from './reads.ts';
import type { StoreState } from './state.ts';

/** A logical record of a snapshot: plaintext, to be re-sealed by the receiver with its own keys. */
export type SnapshotRecord =
  | { type: 'header'; appliedIndex: number; revision: number; compactRevision: number }
  | { type: 'page'; page: Page }
  | { type: 'lease'; lease: LeaseRecord };

/** MvccStore.exportSnapshot. */
export async function* exportSnapshot(state: StoreState): AsyncGenerator<SnapshotRecord> {
  state.checkUsable();
  const header: SnapshotRecord = { type: 'header', appliedIndex: state.applied, revision: state.revision, compactRevision: state.compactRev };
  const snapshot = state.snapshot();
  try {
    const packed = state.index.revisionsUpTo(state.revision);
    // Taken with the header, synchronously: the leases as of the exported revision.
    const leases = state.leaseTable.records();
    yield header;
    for (const revs of revisionRuns(packed)) {
      for (const page of await readPages(state, revs, snapshot)) yield { type: 'page', page };
    }
    for (const lease of leases) yield { type: 'lease', lease };
  } finally {
    await state.closeSnapshot(snapshot);
  }
}
