import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompactedError, makeConfState, MemoryStorage, type Entry } from '../../../src/raft/index.ts';
import { RaftLog } from '../../../src/raft/log.ts';

function ents(...pairs: [number, number][]): Entry[] {
  return pairs.map(([index, term]) => ({ index, term, type: 'normal', data: new Uint8Array(0) }));
}

function logWith(stored: [number, number][], unstable: [number, number][] = []): RaftLog {
  const storage = new MemoryStorage(makeConfState([1]));
  storage.append(ents(...stored));
  const log = new RaftLog(storage, Number.MAX_SAFE_INTEGER);
  log.append(ents(...unstable));
  return log;
}

test('term and lastIndex see both storage and the unstable tail', () => {
  const log = logWith([[1, 1], [2, 1]], [[3, 2], [4, 3]]);
  assert.equal(log.lastIndex(), 4);
  assert.equal(log.term(2), 1);
  assert.equal(log.term(4), 3);
  assert.equal(log.termOrZero(9), 0);
  assert.equal(log.stableLastIndex(), 2);
});

test('maybeAppend rejects a mismatching (index, term) and accepts a matching one', () => {
  const log = logWith([[1, 1], [2, 2]]);
  assert.equal(log.maybeAppend(2, 1, 0, ents([3, 2])), undefined);
  assert.equal(log.maybeAppend(2, 2, 3, ents([3, 2])), 3);
  assert.equal(log.committed, 3);
});

test('maybeAppend truncates a conflicting uncommitted tail', () => {
  const log = logWith([[1, 1], [2, 1], [3, 1], [4, 1]]);
  assert.equal(log.maybeAppend(1, 1, 0, ents([2, 1], [3, 4])), 3);
  assert.deepEqual(log.allEntries().map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 4]]);
});

test('maybeAppend never truncates: a duplicate, shorter append keeps the longer log', () => {
  const log = logWith([[1, 1], [2, 1], [3, 1]]);
  assert.equal(log.maybeAppend(1, 1, 0, ents([2, 1])), 2);
  assert.equal(log.lastIndex(), 3);
});

test('overwriting a committed entry is an invariant violation', () => {
  const log = logWith([[1, 1], [2, 1]]);
  log.commitTo(2);
  assert.throws(() => log.maybeAppend(1, 1, 2, ents([2, 2])), /conflicts with committed/);
});

test('commit only counts an entry of the given term', () => {
  const log = logWith([[1, 1], [2, 1], [3, 2]]);
  assert.equal(log.maybeCommit(2, 2), false, 'entry 2 is of term 1');
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(3, 2), true);
  assert.equal(log.committed, 3);
  log.commitTo(1);
  assert.equal(log.committed, 3, 'commit never goes back');
});

test('findConflictByTerm skips entries whose term is above the given term', () => {
  const log = logWith([[1, 1], [2, 1], [3, 2], [4, 2], [5, 4], [6, 4]]);
  assert.deepEqual(log.findConflictByTerm(6, 3), [4, 2]);
  assert.deepEqual(log.findConflictByTerm(6, 4), [6, 4]);
  assert.deepEqual(log.findConflictByTerm(6, 1), [2, 1]);
  assert.deepEqual(log.findConflictByTerm(6, 0), [0, 0]);
});

test('isUpToDate compares last term first, then last index', () => {
  const log = logWith([[1, 1], [2, 2]]);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(5, 1), false);
  assert.equal(log.isUpToDate(2, 2), true);
  assert.equal(log.isUpToDate(1, 2), false);
});

test('slice respects maxBytes but always returns at least one entry', () => {
  const log = logWith([[1, 1], [2, 1]], [[3, 1]]);
  assert.equal(log.slice(1, 4, 1).length, 1);
  assert.equal(log.slice(1, 4, Number.MAX_SAFE_INTEGER).length, 3);
  assert.equal(log.slice(2, 4, 50).length, 2, 'two 24-byte empty entries fit in 50 bytes across storage and unstable');
});

test('entries below the compaction point raise CompactedError', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  storage.append(ents([1, 1], [2, 1], [3, 1]));
  storage.createSnapshot(2, makeConfState([1]), new Uint8Array(0));
  storage.compact(2);
  const log = new RaftLog(storage, Number.MAX_SAFE_INTEGER);
  assert.throws(() => log.slice(1, 3, 100), CompactedError);
  assert.equal(log.term(2), 1, 'the snapshot point still has a term');
  assert.throws(() => log.term(1), CompactedError);
});

test('nextCommittedEntries hands out each committed entry once (applying), applied moves on advance', () => {
  const log = logWith([[1, 1], [2, 1], [3, 1]]);
  log.commitTo(2);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [1, 2]);
  log.acceptApplying(2);
  assert.equal(log.hasNextCommittedEntries(), false);
  log.commitTo(3);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [3]);
  log.appliedTo(2);
  assert.equal(log.applied, 2);
  assert.throws(() => log.appliedTo(1), /goes back/);
});

test('stableTo ignores an acknowledgement for entries that were overwritten meanwhile', () => {
  const log = logWith([[1, 1]], [[2, 1], [3, 1]]);
  log.append(ents([3, 2]));
  log.stableTo(3, 1);
  assert.equal(log.stableLastIndex(), 1, 'entry 3 of term 1 is gone; nothing became stable');
  log.stableTo(3, 2);
  assert.equal(log.stableLastIndex(), 3);
});
