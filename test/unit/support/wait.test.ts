// The one waiting helper of the tests: what it resolves with, and how it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../../support/wait.ts';

test('a condition is asked again until it holds', async () => {
  let asked = 0;
  assert.equal(await waitUntil(() => ++asked === 3, 5_000, 'the third ask', { pollMs: 1 }), true);
  assert.equal(asked, 3);
});

test('a probe resolves with its first value that is neither undefined nor false, 0 and null included', async () => {
  const answers: unknown[] = [undefined, false, 0];
  assert.equal(await waitUntil(() => answers.shift(), 5_000, 'a zero', { pollMs: 1 }), 0);
  assert.equal(await waitUntil(() => Promise.resolve(null), 5_000, 'a null'), null);
});

test('a wait that times out names what did not happen and the detail', async () => {
  await assert.rejects(waitUntil(() => false, 20, 'the impossible', { detail: () => 'still false', pollMs: 1 }),
    { message: 'the impossible: not within 20 ms (still false)' });
});

test('an error thrown by the probe ends the wait with that error', async () => {
  await assert.rejects(waitUntil(() => { throw new Error('broken'); }, 5_000, 'anything'), { message: 'broken' });
});
