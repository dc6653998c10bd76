import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CompactedError,
  decodeConfChange,
  encodeConfChange,
  applyToConfState,
  ConfChangeDecodeError,
  ConfChangeError,
  makeConfState,
  MemoryStorage,
  SnapshotOutOfDateError,
  UnavailableError,
  type Entry,
} from '../../../src/raft/index.ts';

function ents(...pairs: [number, number][]): Entry[] {
  return pairs.map(([index, term]) => ({ index, term, type: 'normal', data: new Uint8Array([index]) }));
}

test('MemoryStorage append replaces a conflicting tail and ignores compacted entries', () => {
  const s = new MemoryStorage(makeConfState([1, 2, 3]));
  s.append(ents([1, 1], [2, 1], [3, 1]));
  s.append(ents([2, 2]));
  assert.equal(s.lastIndex(), 2);
  assert.equal(s.term(2), 2);
  s.createSnapshot(2, makeConfState([1, 2, 3]), new Uint8Array(0));
  s.compact(2);
  s.append(ents([1, 1], [2, 2], [3, 2]));
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.lastIndex(), 3);
});

test('MemoryStorage reports compacted and unavailable ranges with typed errors', () => {
  const s = new MemoryStorage(makeConfState([1]));
  s.append(ents([1, 1], [2, 1], [3, 1], [4, 1]));
  s.createSnapshot(2, makeConfState([1]), new Uint8Array(0));
  s.compact(2);
  assert.throws(() => s.entries(2, 4, 100), CompactedError);
  assert.throws(() => s.entries(3, 6, 100), UnavailableError);
  assert.throws(() => s.term(1), (e: unknown) => e instanceof CompactedError && e.code === 'E_COMPACTED');
  assert.throws(() => s.term(5), (e: unknown) => e instanceof UnavailableError && e.code === 'E_UNAVAILABLE');
  assert.equal(s.term(2), 1);
  assert.deepEqual(s.entries(3, 5, 1000).map((e) => e.index), [3, 4]);
  assert.deepEqual(s.entries(3, 5, 1).map((e) => e.index), [3], 'at least one entry even over maxBytes');
});

test('MemoryStorage refuses an older snapshot', () => {
  const s = new MemoryStorage(makeConfState([1]));
  s.applySnapshot({ metadata: { index: 5, term: 2, confState: makeConfState([1]) }, data: new Uint8Array(0) });
  assert.equal(s.firstIndex(), 6);
  assert.equal(s.lastIndex(), 5);
  assert.throws(
    () => s.applySnapshot({ metadata: { index: 4, term: 2, confState: makeConfState([1]) }, data: new Uint8Array(0) }),
    SnapshotOutOfDateError,
  );
});

test('conf changes round-trip through their entry encoding, context included', () => {
  const cc = { type: 'addLearner' as const, nodeId: 42, context: new TextEncoder().encode('https://m4:7444') };
  const back = decodeConfChange(encodeConfChange(cc));
  assert.deepEqual(back, cc);
  assert.deepEqual(decodeConfChange(encodeConfChange({ type: 'removeNode', nodeId: 7 })), { type: 'removeNode', nodeId: 7 });
});

test('malformed conf change data raises ConfChangeDecodeError', () => {
  assert.throws(() => decodeConfChange(new Uint8Array([1, 2])), ConfChangeDecodeError);
  const bad = encodeConfChange({ type: 'addNode', nodeId: 3 });
  bad[1] = 9;
  assert.throws(() => decodeConfChange(bad), /kind code 9/);
});

test('single-server changes: add, promote, demote, remove; never zero voters', () => {
  let cs = makeConfState([1, 2]);
  cs = applyToConfState(cs, { type: 'addLearner', nodeId: 3 });
  assert.deepEqual([cs.voters, cs.learners], [[1, 2], [3]]);
  cs = applyToConfState(cs, { type: 'addNode', nodeId: 3 });
  assert.deepEqual([cs.voters, cs.learners], [[1, 2, 3], []]);
  cs = applyToConfState(cs, { type: 'addLearner', nodeId: 1 });
  assert.deepEqual([cs.voters, cs.learners], [[2, 3], [1]]);
  cs = applyToConfState(cs, { type: 'removeNode', nodeId: 1 });
  assert.deepEqual([cs.voters, cs.learners], [[2, 3], []]);
  cs = applyToConfState(cs, { type: 'removeNode', nodeId: 9 });
  assert.deepEqual(cs.voters, [2, 3], 'removing an absent node is a no-op');
  const one = makeConfState([5]);
  assert.throws(() => applyToConfState(one, { type: 'removeNode', nodeId: 5 }), ConfChangeError);
});
