import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from '../../../src/raft/progress.ts';

function progress(match: number, next: number): Progress {
  return new Progress({ match, next, maxInflightMsgs: 2, maxInflightBytes: 1000, isLearner: false });
}

test('probe: one append per round — paused after a send until a response', () => {
  const pr = progress(0, 5);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(3, 30);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 5, 'probe does not advance next optimistically');
  assert.equal(pr.maybeUpdate(7), true);
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.next, 8);
});

test('replicate: optimistic next and inflight window', () => {
  const pr = progress(4, 5);
  pr.becomeReplicate();
  pr.sentEntries(2, 20);
  assert.equal(pr.next, 7);
  pr.sentEntries(1, 10);
  assert.equal(pr.next, 8);
  assert.equal(pr.isPaused(), true, 'window of 2 messages is full');
  pr.maybeUpdate(6);
  pr.inflights.freeLE(6);
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.match, 6);
});

test('maybeDecrTo in replicate ignores stale rejections and restarts from match', () => {
  const pr = progress(10, 11);
  pr.becomeReplicate();
  pr.sentEntries(5, 50);
  assert.equal(pr.maybeDecrTo(9, 9), false, 'rejection at or below match is stale');
  assert.equal(pr.maybeDecrTo(12, 11), true);
  assert.equal(pr.next, 11);
});

test('maybeDecrTo in probe uses the hint but never goes below match + 1', () => {
  const pr = progress(3, 20);
  assert.equal(pr.maybeDecrTo(15, 10), false, 'only the rejection of next - 1 counts');
  assert.equal(pr.maybeDecrTo(19, 10), true);
  assert.equal(pr.next, 11);
  assert.equal(pr.maybeDecrTo(10, 0), true);
  assert.equal(pr.next, 4, 'bounded below by match + 1');
});

test('snapshot state pauses; becomeProbe resumes after the snapshot index', () => {
  const pr = progress(2, 3);
  pr.becomeSnapshot(50);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.pendingSnapshot, 50);
  pr.becomeProbe();
  assert.equal(pr.state, 'probe');
  assert.equal(pr.next, 51);
  assert.equal(pr.pendingSnapshot, 0);
});

test('a failed snapshot (pendingSnapshot cleared) probes from match + 1', () => {
  const pr = progress(2, 3);
  pr.becomeSnapshot(50);
  pr.pendingSnapshot = 0;
  pr.becomeProbe();
  assert.equal(pr.next, 3);
});
