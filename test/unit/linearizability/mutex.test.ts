import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLinearizable, type MutexOperation, type MutexOutput, mutexModel } from '../../support/linearizability/index.ts';

/** `holder`'s operation in [call, ret]; `ret` undefined makes it indeterminate. */
function tryLock(holder: string, call: number, ret: number | undefined, acquired?: boolean): MutexOperation {
  const output: MutexOutput | undefined = ret === undefined ? undefined : { kind: 'tryLock', acquired: acquired === true };
  return { clientId: 0, input: { kind: 'tryLock', holder }, output, call, return: ret ?? Infinity };
}
function unlock(holder: string, call: number, ret: number | undefined): MutexOperation {
  return { clientId: 0, input: { kind: 'unlock', holder }, output: ret === undefined ? undefined : { kind: 'unlock' }, call, return: ret ?? Infinity };
}
const verdict = (history: MutexOperation[]) => checkLinearizable(mutexModel, history).verdict;

test('one holder at a time, handed on by an unlock, is linearizable', () => {
  assert.equal(verdict([tryLock('a', 0, 10, true), tryLock('b', 11, 20, false), unlock('a', 21, 30), tryLock('b', 31, 40, true)]), 'ok');
});

test('two holders at once are illegal: b took the lock after a took it and before a let go', () => {
  assert.equal(verdict([tryLock('a', 0, 10, true), tryLock('b', 11, 20, true), unlock('a', 21, 30)]), 'illegal');
});

test('a failed tryLock on a free lock is illegal', () => {
  assert.equal(verdict([tryLock('a', 0, 10, false)]), 'illegal');
  assert.equal(verdict([tryLock('a', 0, 10, true), unlock('a', 11, 20), tryLock('b', 21, 30, false)]), 'illegal');
});

test('overlapping calls may order either way: b acquires while a unlocks', () => {
  assert.equal(verdict([tryLock('a', 0, 10, true), unlock('a', 11, 30), tryLock('b', 20, 40, true)]), 'ok');
});

test('an indeterminate tryLock may have taken the lock (b fails) or not (b succeeds), and its holder\'s unlock frees it', () => {
  assert.equal(verdict([tryLock('a', 0, undefined), tryLock('b', 11, 20, false)]), 'ok');
  assert.equal(verdict([tryLock('a', 0, undefined), tryLock('b', 11, 20, true)]), 'ok');
  assert.equal(verdict([tryLock('a', 0, undefined), tryLock('b', 11, 20, false), unlock('a', 21, 30), tryLock('b', 31, 40, true)]), 'ok');
});

test('an unlock by a client that does not hold the lock frees nothing', () => {
  assert.equal(verdict([tryLock('a', 0, 10, true), unlock('b', 11, 20), tryLock('c', 21, 30, true)]), 'illegal');
});
