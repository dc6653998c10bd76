/**
 * ProgressTracker: the membership as the core sees it (voters, learners), one Progress per member (used
 * while leader), and the votes of the current election.
 */
import { assert, sortInPlace } from '../base/index.ts';
import { makeConfState } from './confChange.ts';
import { Progress } from './progress.ts';
import { committedIndex, quorumActive, voteResult, type VoteResult } from './quorum.ts';
import type { ConfState, NodeId } from './types.ts';

export class ProgressTracker {
  /** Invariant: voters and learners are disjoint and sorted; progress has exactly their ids. */
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(
    private readonly maxInflightMsgs: number,
    private readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    return makeConfState(this.voters, this.learners);
  }

  isMember(id: NodeId): boolean {
    return this.progress.has(id);
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Every member id, ascending (a fixed order keeps message order deterministic). */
  ids(): NodeId[] {
    return sortInPlace([...this.progress.keys()], (a, b) => a - b);
  }

  newProgress(match: number, next: number, isLearner: boolean): Progress {
    return new Progress({ match, next, maxInflightMsgs: this.maxInflightMsgs, maxInflightBytes: this.maxInflightBytes, isLearner });
  }

  /**
   * Switches to membership `cs`. New members start probing at lastIndex and count as recently active
   * (so CheckQuorum gives them a full round to answer).
   */
  setConfState(cs: ConfState, lastIndex: number): void {
    assert(cs.votersOutgoing.length === 0 && cs.learnersNext.length === 0, 'joint ConfState is not supported');
    const normalized = makeConfState(cs.voters, cs.learners);
    assert(normalized.voters.every((id) => !normalized.learners.includes(id)), 'a node is both voter and learner');
    this.voters = normalized.voters;
    this.learners = normalized.learners;
    const members = new Set([...this.voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const isLearner = this.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const fresh = this.newProgress(0, Math.max(lastIndex, 1), isLearner);
        fresh.recentActive = true;
        this.progress.set(id, fresh);
      } else {
        pr.isLearner = isLearner;
      }
    }
  }

  /** The highest index a majority of voters have matched. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records id's vote unless it already voted this election. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tally(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  quorumActive(selfId: NodeId): boolean {
    return quorumActive(this.voters, (id) => id === selfId || this.progress.get(id)?.recentActive === true);
  }
}
