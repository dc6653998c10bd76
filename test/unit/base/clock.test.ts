import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/base/index.ts';

test('a manual clock fires timers in due order as time advances', () => {
  const clock = new ManualClock(1000);
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push(`b@${clock.nowMs()}`));
  clock.setTimer(10, () => fired.push(`a@${clock.nowMs()}`));
  clock.setTimer(30, () => fired.push(`c@${clock.nowMs()}`));
  clock.advance(20);
  assert.deepEqual(fired, ['a@1010']);
  clock.advance(20);
  assert.deepEqual(fired, ['a@1010', 'b@1030', 'c@1030']);
  assert.equal(clock.nowMs(), 1040);
});

test('a cancelled timer never fires, and a timer set by a timer fires in the same advance', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  clock.setTimer(5, () => fired.push(1)).cancel();
  clock.setTimer(5, () => clock.setTimer(5, () => fired.push(2)));
  clock.advance(10);
  assert.deepEqual(fired, [2]);
  assert.equal(clock.pendingTimers(), 0);
});
