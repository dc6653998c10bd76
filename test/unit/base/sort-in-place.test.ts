// sortInPlace orders as Array.prototype.sort does — stably, by the comparator — on either side of the
// length where it hands the array to Array.prototype.sort, and byCodeUnits is the comparator-less order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { byCodeUnits, sortInPlace } from '../../../src/base/index.ts';

test('sortInPlace sorts numbers as Array.prototype.sort, in place, at every length up to past the insertion-sort limit', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 80 }), (items) => {
    const expected = [...items].sort((a, b) => a - b);
    const sorted = sortInPlace(items, (a, b) => a - b);
    assert.equal(sorted, items, 'the array itself is returned');
    assert.deepEqual(sorted, expected);
  }));
});

test('sortInPlace is stable: items that compare equal keep their order', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 80 }), (keys) => {
    const items = keys.map((key, at) => ({ key, at }));
    const sorted = sortInPlace([...items], (a, b) => a.key - b.key);
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1]!, sorted[i]!];
      assert.ok(a.key < b.key || (a.key === b.key && a.at < b.at), `items ${a.at} and ${b.at} out of order`);
    }
  }));
});

test('byCodeUnits orders strings as Array.prototype.sort without a comparator, surrogates and index-like keys included', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.nat().map(String)), { maxLength: 40 }), (items) => {
    assert.deepEqual(sortInPlace([...items], byCodeUnits), [...items].sort());
  }));
});
