import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assert as invariant, AssertionFailure } from '../../../src/base/index.ts';

test('assert throws an AssertionFailure carrying its message', () => {
  assert.throws(() => invariant(1 > 2, 'applied <= committed'), (error: unknown) => {
    assert.ok(error instanceof AssertionFailure);
    assert.match(error.message, /applied <= committed/);
    return true;
  });
});

test('assert passes silently when the condition holds', () => {
  assert.doesNotThrow(() => invariant(true, 'never shown'));
});
