import assert from 'node:assert/strict';
import { test } from 'node:test';
import { committedIndex, majority, quorumActive, voteResult } from '../../../src/raft/quorum.ts';

test('majority of n voters is floor(n/2) + 1', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(majority), [1, 2, 2, 3, 3, 4]);
});

test('committedIndex is the highest index a majority has matched', () => {
  const match = new Map([[1, 5], [2, 3], [3, 9]]);
  assert.equal(committedIndex([1, 2, 3], (id) => match.get(id) ?? 0), 5);
  const five = new Map([[1, 10], [2, 2], [3, 7], [4, 7], [5, 1]]);
  assert.equal(committedIndex([1, 2, 3, 4, 5], (id) => five.get(id) ?? 0), 7);
  // Even voter count: 2 of 4 is not a majority.
  const four = new Map([[1, 10], [2, 10], [3, 1], [4, 1]]);
  assert.equal(committedIndex([1, 2, 3, 4], (id) => four.get(id) ?? 0), 1);
});

test('voteResult: won with a majority of grants, lost once a majority is impossible, else pending', () => {
  const voters = [1, 2, 3, 4, 5];
  assert.equal(voteResult(voters, new Map([[1, true], [2, true]])), 'pending');
  assert.equal(voteResult(voters, new Map([[1, true], [2, true], [3, true]])), 'won');
  assert.equal(voteResult(voters, new Map([[1, true], [2, false], [3, false]])), 'pending');
  assert.equal(voteResult(voters, new Map([[1, true], [2, false], [3, false], [4, false]])), 'lost');
  // Votes from non-voters do not count.
  assert.equal(voteResult([1, 2, 3], new Map([[1, true], [7, true], [8, true]])), 'pending');
});

test('quorumActive counts only voters that are active', () => {
  assert.equal(quorumActive([1, 2, 3], (id) => id === 1), false);
  assert.equal(quorumActive([1, 2, 3], (id) => id !== 3), true);
});
