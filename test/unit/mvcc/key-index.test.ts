/**
 * The pure index structures: a key's generations (etcd's key index) and the chunked sorted key set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyIndex } from '../../../src/storage/mvcc/key-index.ts';
import { SortedKeys } from '../../../src/storage/mvcc/sorted-keys.ts';

test('a key index answers each revision from the right generation, with version and creation', () => {
  const ki = new KeyIndex();
  ki.put(2, 0); // generation 1: created at 2
  ki.put(4, 0);
  ki.tombstone(6, 0);
  ki.put(8, 0); // generation 2: created at 8
  ki.put(8, 1);
  assert.equal(ki.get(1), undefined, 'before creation');
  assert.deepEqual(ki.get(3), { mod: { main: 2, sub: 0 }, createRevision: 2, version: 1 });
  assert.deepEqual(ki.get(5), { mod: { main: 4, sub: 0 }, createRevision: 2, version: 2 });
  assert.equal(ki.get(6), undefined, 'deleted at its tombstone');
  assert.equal(ki.get(7), undefined, 'still deleted');
  assert.deepEqual(ki.get(8), { mod: { main: 8, sub: 1 }, createRevision: 8, version: 2 });
  assert.deepEqual(ki.latest(), { main: 8, sub: 1 });
  assert.equal(ki.exists(), true);
});

test('compaction keeps the latest revision at or before it and drops deleted generations with their tombstone', () => {
  const ki = new KeyIndex();
  ki.put(2, 0);
  ki.put(4, 0);
  ki.tombstone(6, 0);
  ki.put(8, 0);
  ki.put(10, 0);
  const removedAt5: number[] = [];
  ki.compact(5, removedAt5);
  assert.deepEqual(removedAt5, [2, 0], 'revision 4 is the value at 5 and stays');
  assert.deepEqual(ki.get(5), { mod: { main: 4, sub: 0 }, createRevision: 2, version: 2 }, 'version survives compaction');
  const removedAt6: number[] = [];
  ki.compact(6, removedAt6);
  assert.deepEqual(removedAt6, [4, 0, 6, 0], 'a generation deleted at or before the compact revision vanishes');
  const removedAt9: number[] = [];
  ki.compact(9, removedAt9);
  assert.deepEqual(removedAt9, [], 'revision 8 is the value at 9');
  assert.deepEqual(ki.get(10), { mod: { main: 10, sub: 0 }, createRevision: 8, version: 2 });
  ki.tombstone(12, 0);
  ki.compact(12, []);
  assert.equal(ki.isEmpty(), true, 'nothing is left of a key deleted at the compact revision');
});

test('undo takes back the latest put or tombstone exactly', () => {
  const ki = new KeyIndex();
  ki.put(1, 0);
  ki.tombstone(2, 0);
  ki.put(3, 0);
  ki.undoPut(3, 0);
  ki.undoTombstone(2, 0);
  assert.deepEqual(ki.get(5), { mod: { main: 1, sub: 0 }, createRevision: 1, version: 1 });
  ki.undoPut(1, 0);
  assert.equal(ki.isEmpty(), true);
});

test('the sorted key set behaves as a sorted array under random inserts, deletes and scans', () => {
  const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\u0000', '\u00ff'), maxLength: 4 });
  const opArb = fc.oneof(
    fc.record({ kind: fc.constant('insert' as const), key: keyArb }),
    fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
    fc.record({ kind: fc.constant('bulk' as const), count: fc.integer({ min: 0, max: 3000 }) }),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), keyArb, (ops, start) => {
      const set = new SortedKeys();
      const model = new Set<string>();
      let bulk = 0;
      for (const op of ops) {
        if (op.kind === 'insert') assert.equal(set.insert(op.key), !model.has(op.key) && model.add(op.key) !== undefined);
        else if (op.kind === 'delete') assert.equal(set.delete(op.key), model.delete(op.key));
        else {
          // Many keys at once, so chunks split and empty.
          for (let i = 0; i < op.count; i++) {
            const key = `m${String(bulk++).padStart(6, '0')}`;
            set.insert(key);
            model.add(key);
          }
        }
      }
      const sorted = [...model].sort();
      assert.equal(set.size, sorted.length);
      assert.deepEqual([...set.from('')], sorted);
      assert.deepEqual([...set.from(start)], sorted.filter((k) => k >= start));
    }),
    { numRuns: 200 },
  );
  const built = SortedKeys.fromSorted(Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(5, '0')}`));
  assert.equal(built.delete('k02500'), true);
  assert.equal(built.insert('k02500x'), true);
  assert.deepEqual([...built.from('k024999')].slice(0, 3), ['k02500x', 'k02501', 'k02502']);
});

test('a key written as of a revision reads back as the key that saw only the changes up to it', () => {
  // A history: puts and deletes at ascending revisions (a delete only of a live key), then a cut-off.
  const change = fc.record({ gap: fc.integer({ min: 0, max: 2 }), del: fc.boolean() });
  fc.assert(fc.property(fc.array(change, { maxLength: 30 }), fc.integer({ min: 0, max: 70 }), (changes, atMain) => {
    const full = new KeyIndex();
    const upTo = new KeyIndex();
    let main = 1;
    let sub = 0;
    for (const { gap, del } of changes) {
      if (gap === 0) sub++;
      else {
        main += gap;
        sub = 0;
      }
      for (const ki of main <= atMain ? [full, upTo] : [full]) {
        if (del && ki.exists()) ki.tombstone(main, sub);
        else if (!del) ki.put(main, sub);
      }
    }
    const flat: unknown[] = [];
    const written = full.writeGenerations(flat, atMain);
    assert.equal(written, !upTo.isEmpty(), 'written exactly when the key held a revision by then');
    if (!written) return;
    assert.deepEqual(KeyIndex.readGenerations(flat, 0), upTo);
  }), { seed: 20261204, numRuns: 2000 });
});
