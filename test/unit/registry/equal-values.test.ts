// equalValues, the registry's comparison of objects that may hold Secret data, decides exactly as
// isDeepStrictEqual on JSON-shaped values, and takes every string through the constant-time compare.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { equalValues } from '../../../src/registry/equal-values.ts';

const leaf = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -2, max: 2 }), fc.boolean(), fc.constant(null), fc.constant(undefined));
const value = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b', 'c', '__proto__'), tie('value'), { maxKeys: 3 })),
})).value;

test('equalValues agrees with isDeepStrictEqual on JSON-shaped values, equal and not', () => {
  fc.assert(fc.property(value, value, (a, b) => {
    assert.equal(equalValues(a, b), isDeepStrictEqual(a, b));
    const copy = structuredClone(a);
    assert.equal(equalValues(a, copy), isDeepStrictEqual(a, copy), 'a copy (its objects all of Object.prototype)');
  }), { numRuns: 2000 });
});

test('equalValues tells apart objects that differ in one byte of one value, a missing key, or a key holding undefined', () => {
  const secret = { metadata: { name: 'db' }, data: { user: 'YXBw', password: 'aHVudGVyMg==' } };
  assert.equal(equalValues(secret, structuredClone(secret)), true);
  assert.equal(equalValues(secret, { ...secret, data: { ...secret.data, password: 'aHVudGVyMw==' } }), false);
  assert.equal(equalValues(secret, { ...secret, data: { password: secret.data.password, user: secret.data.user } }), true, 'key order is not a difference');
  assert.equal(equalValues({ a: undefined }, {}), false);
  assert.equal(equalValues(['x'], ['x', 'y']), false);
  assert.equal(equalValues('é', 'é'), true);
  assert.equal(equalValues('é', 'e\u0301'), false, 'no normalisation: different code points differ');
});
