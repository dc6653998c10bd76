/**
 * Progress: what the leader knows about one follower's log, and the flow-control state machine
 *   probe     — the match point is unknown; send one append per heartbeat interval until one is accepted;
 *   replicate — the follower keeps up; stream appends optimistically, bounded by Inflights;
 *   snapshot  — the follower needs entries the leader has compacted; a snapshot is in flight, send nothing
 *               else until the host reports it (reportSnapshot) or the follower acknowledges it.
 */
import { assert } from '../base/index.ts';
import { Inflights } from './inflights.ts';
import type { ProgressState, ProgressStatus } from './types.ts';

export class Progress {
  /** Highest index known replicated (durably) on the follower. Invariant: match < next. */
  match: number;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the snapshot's index. Otherwise 0. */
  pendingSnapshot = 0;
  /** Heard from the follower since the last CheckQuorum round. */
  recentActive = false;
  /** In probe state: an append was sent this heartbeat interval, wait before the next. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(options: { match: number; next: number; maxInflightMsgs: number; maxInflightBytes: number; isLearner: boolean }) {
    this.match = options.match;
    this.next = options.next;
    this.isLearner = options.isLearner;
    this.inflights = new Inflights(options.maxInflightMsgs, options.maxInflightBytes);
    this.checkInvariant();
  }

  private checkInvariant(): void {
    assert(this.match < this.next, `progress match ${this.match} must be below next ${this.next}`);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // Resume probing just past the snapshot (or past match, if that is further).
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
    this.checkInvariant();
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to `n`. Returns true if match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Records an append of `count` entries (`bytes` in total) just sent starting at `next`. */
  sentEntries(count: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next += count;
          this.inflights.add(this.next - 1, bytes);
        }
        // An empty append in replicate is a commit update; it does not pause the stream.
        break;
      case 'probe':
        this.msgAppFlowPaused = true;
        break;
      case 'snapshot':
        assert(false, 'sending entries to a follower in snapshot state');
    }
  }

  /**
   * The follower rejected an append at index `rejected`, suggesting `matchHint` as the last possibly
   * matching index. Returns false if the rejection is stale (and must be ignored).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // A rejection at or below match is from an older, reordered message.
      if (rejected <= this.match) return false;
      // Optimistic sends were wrong: restart just past match (the hint is not needed here).
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the rejection of the append we just sent (at next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader must hold back appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
      pendingSnapshot: this.pendingSnapshot,
      inflightMsgs: this.inflights.count(),
      inflightBytes: this.inflights.bytes(),
    };
  }
}
