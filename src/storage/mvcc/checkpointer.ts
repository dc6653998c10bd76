/**
 * When a running store writes its index checkpoint (index-checkpoint.ts): once an open after a crash
 * would replay at least `indexCheckpointReplayPagesMin` pages written since the last one, and half
 * of the store's keys (`indexCheckpointReplayKeysShare`: a checkpoint walks every key), the next commit
 * starts one in the background. A compaction makes the checkpoint on disk unusable, so a crash before
 * the next would open every page, and the count starts from all of them (commit.ts).
 *
 * Invariants: at most one checkpoint is built at a time; one that fails to write fails the store, as a
 * failed step of physical compaction does; `settled` never rejects, so close can wait for it.
 */
import { indexCheckpointReplayKeysShare } from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { writeIndexCheckpoint } from './index-checkpoint.ts';
import type { StoreState } from './state.ts';

export class IndexCheckpointer {
  private running: Promise<void> | undefined;

  constructor(
    private readonly state: StoreState,
    /** indexCheckpointReplayPagesMin, or a test's smaller figure. */
    private readonly replayPagesMin: number,
  ) {}

  /** After each committed batch: starts a checkpoint in the background if one is due. */
  afterCommit(): void {
    const state = this.state;
    if (this.running !== undefined || state.closed || state.finishedCompactRev !== state.compactRev) return;
    const due = Math.max(this.replayPagesMin, Math.ceil(state.index.keyCount * indexCheckpointReplayKeysShare));
    if (state.pagesSinceCheckpoint < due) return;
    this.running = writeIndexCheckpoint(state, true).catch(
      (error: unknown) => {
        state.failWith(new MvccError('E_FAILED', 'writing the index checkpoint failed; reopen the store', { cause: error }));
      },
    ).finally(() => {
      this.running = undefined;
    });
  }

  /** Settles when the checkpoint being built, if any, is written or given up. */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
