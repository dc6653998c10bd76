// The quantile and rounding every bench prints its figures with (scripts/bench-stats.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantile, rounded } from '../../../scripts/bench-stats.ts';

test('a quantile is the value at rank floor(p × n), the last for p = 1, and 0 with no values', () => {
  const sorted = Array.from({ length: 200 }, (_, i) => i + 1); // 1 … 200
  assert.equal(quantile(sorted, 0.5), 101);
  assert.equal(quantile(sorted, 0.99), 199);
  assert.equal(quantile(sorted, 1), 200);
  assert.equal(quantile(sorted, 0), 1);
  assert.equal(quantile([7], 0.99), 7);
  assert.equal(quantile([], 0.5), 0);
});

test('a figure is rounded to three decimals unless told otherwise', () => {
  assert.equal(rounded(1.23456), 1.235);
  assert.equal(rounded(1.23456, 2), 1.23);
  assert.equal(rounded(2 / 3, 1), 0.7);
  assert.equal(rounded(5), 5);
});
