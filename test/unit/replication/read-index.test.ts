// The ReadIndex batcher with a host that records the rounds it is asked for: reads that arrive while a
// round is in flight share the next round, never the one in flight (asked before they arrived); a round
// with no answer is asked again under a fresh context, and an answer to the old one is ignored; a read
// gives up at its own deadline; with no leader the reads wait and the next tick asks again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { ReadIndexBatcher } from '../../../src/replication/read-index.ts';

const retryMs = 50;
const timeoutMs = 1_000;

function batcher() {
  const asked: Uint8Array[] = [];
  let leader = true;
  const clock = new ManualClock();
  const reads = new ReadIndexBatcher({
    requestReadIndex: (ctx) => {
      if (!leader) throw new Error('no leader');
      asked.push(ctx);
    },
  }, clock, retryMs, 'boot');
  return {
    reads, asked, clock,
    setLeader: (known: boolean) => { leader = known; },
    /** Answers the round asked last with `index`. */
    answerLast: (index: number) => reads.answered(asked.at(-1)!, index),
  };
}

/** How `promise` stands once the callbacks queued so far have run. */
async function state<T>(promise: Promise<T>): Promise<{ value: T } | { error: Error } | 'pending'> {
  let result: { value: T } | { error: Error } | 'pending' = 'pending';
  promise.then((value) => { result = { value }; }, (error: Error) => { result = { error }; });
  await new Promise<void>((resolve) => setImmediate(resolve));
  return result;
}

test('reads arriving while a round is in flight share the next round, not the one asked before them', async () => {
  const { reads, asked, answerLast } = batcher();
  const first = reads.readIndex(timeoutMs);
  assert.equal(asked.length, 1);
  const second = reads.readIndex(timeoutMs);
  const third = reads.readIndex(timeoutMs);
  assert.equal(asked.length, 1, 'no round is asked while one is in flight');
  answerLast(7);
  assert.deepEqual(await state(first), { value: 7 });
  assert.equal(await state(second), 'pending', 'the round asked before the second read arrived does not serve it');
  assert.equal(asked.length, 2, 'the reads that waited are asked for together');
  answerLast(9);
  assert.deepEqual(await state(second), { value: 9 });
  assert.deepEqual(await state(third), { value: 9 });
});

test('a round with no answer is asked again under a fresh context; the old answer is ignored', async () => {
  const { reads, asked, clock, answerLast } = batcher();
  const read = reads.readIndex(timeoutMs);
  const [unanswered] = asked;
  clock.advance(retryMs);
  reads.tick();
  assert.equal(asked.length, 2);
  assert.notDeepEqual(asked[1], unanswered, 'a fresh context');
  reads.answered(unanswered!, 1);
  assert.equal(await state(read), 'pending', 'an answer to the abandoned context is ignored');
  answerLast(6);
  assert.deepEqual(await state(read), { value: 6 });
});

test('a read gives up at its deadline, and the round it was alone in is dropped: the next read asks at once', async () => {
  const { reads, asked, clock, answerLast } = batcher();
  const early = reads.readIndex(retryMs / 2);
  clock.advance(retryMs / 2);
  reads.tick();
  const outcome = await state(early);
  assert.ok(typeof outcome === 'object' && 'error' in outcome && /timed out/.test(outcome.error.message), JSON.stringify(outcome));
  const later = reads.readIndex(timeoutMs);
  assert.equal(asked.length, 2, 'no round is left in flight for the next read to wait behind');
  answerLast(3);
  assert.deepEqual(await state(later), { value: 3 });
});

test('with no leader the reads wait, and the next tick with one asks for them', async () => {
  const { reads, asked, setLeader, answerLast } = batcher();
  setLeader(false);
  const read = reads.readIndex(timeoutMs);
  assert.equal(asked.length, 0);
  reads.tick();
  assert.equal(asked.length, 0);
  setLeader(true);
  reads.tick();
  assert.equal(asked.length, 1);
  answerLast(4);
  assert.deepEqual(await state(read), { value: 4 });
});
