import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KvInput, type KvOperation, type KvOutput, checkLinearizable, kvModel } from '../../support/linearizability/index.ts';

/** A completed operation; `ret` undefined makes it indeterminate. */
function op(clientId: number, call: number, ret: number | undefined, input: KvInput, output?: KvOutput): KvOperation {
  return { clientId, input, output: ret === undefined ? undefined : output, call, return: ret ?? Infinity };
}
const write = (key: string, value: string): KvInput => ({ kind: 'write', key, value });
const read = (key: string): KvInput => ({ kind: 'read', key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({ kind: 'cas', key, expected, value });
const wrote: KvOutput = { kind: 'write' };
const saw = (value: string | null): KvOutput => ({ kind: 'read', value });
const casOk = (ok: boolean): KvOutput => ({ kind: 'cas', ok });

function verdict(history: KvOperation[]): string {
  return checkLinearizable(kvModel, history).verdict;
}

test('an empty history is linearizable', () => {
  assert.equal(verdict([]), 'ok');
});

test('sequential write then read of the written value is linearizable', () => {
  assert.equal(verdict([op(1, 0, 10, write('a', 'x'), wrote), op(2, 11, 20, read('a'), saw('x'))]), 'ok');
});

test('a read of a never-written key sees null', () => {
  assert.equal(verdict([op(1, 0, 10, read('a'), saw(null))]), 'ok');
  assert.equal(verdict([op(1, 0, 10, read('a'), saw('x'))]), 'illegal');
});

test('a read seeing a value never written is illegal', () => {
  const history = [op(1, 0, 10, write('a', 'x'), wrote), op(2, 11, 20, read('a'), saw('y'))];
  assert.equal(verdict(history), 'illegal');
});

test('a stale read after a completed write is illegal', () => {
  const history = [
    op(1, 0, 10, write('a', 'x'), wrote),
    op(1, 11, 20, write('a', 'y'), wrote),
    op(2, 21, 30, read('a'), saw('x')),
  ];
  assert.equal(verdict(history), 'illegal');
});

test('a read concurrent with a write may see the old or the new value', () => {
  const base = op(1, 0, 5, write('a', 'x'), wrote);
  assert.equal(verdict([base, op(1, 10, 30, write('a', 'y'), wrote), op(2, 15, 25, read('a'), saw('x'))]), 'ok');
  assert.equal(verdict([base, op(1, 10, 30, write('a', 'y'), wrote), op(2, 15, 25, read('a'), saw('y'))]), 'ok');
});

test('concurrent writes may take effect in either order', () => {
  const w1 = op(1, 0, 10, write('a', 'x'), wrote);
  const w2 = op(2, 1, 11, write('a', 'y'), wrote);
  assert.equal(verdict([w1, w2, op(3, 20, 30, read('a'), saw('x'))]), 'ok');
  assert.equal(verdict([w1, w2, op(3, 20, 30, read('a'), saw('y'))]), 'ok');
});

test('two reads must agree on the order of concurrent writes', () => {
  // Reads 3 and 4 are sequential (3 before 4), so they cannot see y then x after both writes ended.
  const history = [
    op(1, 0, 10, write('a', 'x'), wrote),
    op(2, 1, 11, write('a', 'y'), wrote),
    op(3, 20, 30, read('a'), saw('y')),
    op(4, 31, 40, read('a'), saw('x')),
  ];
  assert.equal(verdict(history), 'illegal');
});

test('a timed-out write later observed by a read is linearizable', () => {
  const history = [op(1, 0, undefined, write('a', 'x')), op(2, 50, 60, read('a'), saw('x'))];
  assert.equal(verdict(history), 'ok');
});

test('a timed-out write that never took effect is linearizable', () => {
  const history = [op(1, 0, undefined, write('a', 'x')), op(2, 50, 60, read('a'), saw(null))];
  assert.equal(verdict(history), 'ok');
});

test('a timed-out write cannot take effect before its call', () => {
  const history = [op(2, 0, 10, read('a'), saw('x')), op(1, 20, undefined, write('a', 'x'))];
  assert.equal(verdict(history), 'illegal');
});

test('a timed-out write takes effect at one point: reads cannot see it appear, vanish and reappear', () => {
  const history = [
    op(1, 0, undefined, write('a', 'x')),
    op(2, 10, 20, read('a'), saw('x')),
    op(2, 30, 40, read('a'), saw(null)),
  ];
  assert.equal(verdict(history), 'illegal');
});

test('a successful compare-and-set is ordered after the write it compared with', () => {
  const history = [
    op(1, 0, 10, write('a', 'x'), wrote),
    op(2, 11, 20, cas('a', 'x', 'y'), casOk(true)),
    op(3, 21, 30, read('a'), saw('y')),
  ];
  assert.equal(verdict(history), 'ok');
});

test('a compare-and-set that succeeds against a stale value is illegal', () => {
  const history = [
    op(1, 0, 10, write('a', 'x'), wrote),
    op(1, 11, 20, write('a', 'z'), wrote),
    op(2, 21, 30, cas('a', 'x', 'y'), casOk(true)),
  ];
  assert.equal(verdict(history), 'illegal');
});

test('a compare-and-set that fails although the value matched is illegal', () => {
  const history = [op(1, 0, 10, write('a', 'x'), wrote), op(2, 11, 20, cas('a', 'x', 'y'), casOk(false))];
  assert.equal(verdict(history), 'illegal');
});

test('two concurrent compare-and-sets from the same value cannot both succeed', () => {
  const history = [op(1, 0, 10, cas('a', null, 'x'), casOk(true)), op(2, 1, 11, cas('a', null, 'y'), casOk(true))];
  assert.equal(verdict(history), 'illegal');
});

test('of two concurrent compare-and-sets one may win and the other fail, in either order', () => {
  const winX = [op(1, 0, 10, cas('a', null, 'x'), casOk(true)), op(2, 1, 11, cas('a', null, 'y'), casOk(false))];
  assert.equal(verdict([...winX, op(3, 20, 30, read('a'), saw('x'))]), 'ok');
  assert.equal(verdict([...winX, op(3, 20, 30, read('a'), saw('y'))]), 'illegal');
});

test('a timed-out compare-and-set may or may not have applied', () => {
  const pending = op(1, 0, undefined, cas('a', null, 'x'));
  assert.equal(verdict([pending, op(2, 10, 20, read('a'), saw('x'))]), 'ok');
  assert.equal(verdict([pending, op(2, 10, 20, read('a'), saw(null))]), 'ok');
});

test('keys are checked independently and a failure names the partition', () => {
  const history = [
    op(1, 0, 10, write('a', 'x'), wrote),
    op(2, 0, 10, write('b', 'y'), wrote),
    op(3, 11, 20, read('a'), saw('x')),
    op(3, 21, 30, read('b'), saw('x')),
  ];
  const result = checkLinearizable(kvModel, history);
  assert.equal(result.verdict, 'illegal');
  assert.equal(result.partitions, 2);
  assert.ok(result.failure?.ops.every((o) => o.input.key === 'b'));
});

test('the step budget turns an expensive search into unknown, never ok', () => {
  // Many concurrent timed-out writes and a read of a value nobody wrote: every order must be tried.
  const history: KvOperation[] = [];
  for (let c = 0; c < 12; c++) history.push(op(c, c, undefined, write('a', `v${c}`)));
  history.push(op(99, 100, 110, read('a'), saw('nobody')));
  assert.equal(checkLinearizable(kvModel, history, { stepsMax: 50 }).verdict, 'unknown');
  assert.equal(checkLinearizable(kvModel, history).verdict, 'illegal');
});

test('a completed operation whose return precedes its call is rejected as malformed', () => {
  assert.throws(() => verdict([op(1, 10, 5, read('a'), saw(null))]), RangeError);
});
