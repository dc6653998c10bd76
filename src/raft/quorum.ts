/**
 * Majority quorums over a voter set: the commit index a majority has reached, and election tallies.
 * Pure functions; learners never appear here.
 */
import { sortInPlace } from '../base/index.ts';
import type { NodeId } from './types.ts';

export type VoteResult = 'won' | 'lost' | 'pending';

/** Votes needed for a majority of `voterCount`. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of voters have matched. `match(id)` gives a voter's acknowledged
 * index (0 if unknown). An empty voter set commits nothing — returns +Infinity so that a node which
 * has no voters never blocks, mirroring etcd; callers must not pass an empty set (asserted upstream).
 */
export function committedIndex(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const matches = sortInPlace(voters.map(match), (a, b) => b - a);
  // Sorted descending, the majority-th largest value is reached by a majority.
  return matches[majority(voters.length) - 1]!;
}

/** The outcome of an election given the votes received so far (true = granted). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  // Even if every missing vote were granted, no majority: lost.
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether the voters for which `active(id)` holds form a majority. */
export function quorumActive(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  return voters.filter(active).length >= majority(voters.length);
}
