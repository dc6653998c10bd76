/**
 * The rules that turn the record stream into the live log. The same functions run when a record is
 * appended and when it is replayed at recovery, so the log after a restart is the log before it.
 */
import type { SnapshotMarker, WalState } from './codec.ts';
import type { EntrySlot, LogIndex } from './log-index.ts';

/**
 * An entry at index k: ignored at or below the base (covered by the snapshot); otherwise it replaces
 * index k and everything after (Raft overwrites a conflicting tail). Returns the index up to which the
 * log has a gap if k is beyond lastIndex + 1 (possible only at recovery, after compaction removed the
 * segments in between), else 0.
 */
export function applyEntry(log: LogIndex, index: number, slot: EntrySlot, writtenSeq: number): number {
  if (index <= log.base) return 0;
  let gapEnd = 0;
  if (index > log.lastIndex + 1) {
    gapEnd = index - 1;
    log.resetTo(index - 1, -1);
  } else {
    log.truncateFrom(index);
  }
  log.push(slot, writtenSeq);
  return gapEnd;
}

/**
 * A snapshot marker: if the log holds the snapshot's index with the snapshot's term, the prefix up to it
 * is dropped and the rest kept (a snapshot this member took); otherwise the whole log is replaced by
 * the snapshot (one installed from the leader) and the membership becomes the snapshot's.
 * A marker at or below the current base changes nothing.
 */
export function applyMarker(log: LogIndex, state: WalState, marker: SnapshotMarker): void {
  if (marker.index < log.base) return;
  const term = log.termAt(marker.index);
  if (marker.index === log.base && term === -1) {
    log.baseTerm = marker.term; // a recovery gap closed by the snapshot that covers it
    return;
  }
  if (term === marker.term) {
    log.compactTo(marker.index, marker.term);
  } else {
    log.resetTo(marker.index, marker.term);
    state.confState = structuredClone(marker.confState);
  }
}
