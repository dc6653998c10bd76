import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreedNowMs, planRetention, type RetainedFile } from '../../../src/audit/retention.ts';
import { auditRetentionWarnPercent } from '../../../src/config/index.ts';

const hourMs = 3_600_000;
const now = 1_000 * hourMs;
const limits = { bytesMax: 1000, ageMsMax: 100 * hourMs, ageMsMin: 10 * hourMs };
/** Files of `bytes` each whose newest records are `agesH` hours old, oldest first. */
const files = (bytes: number, ...agesH: number[]): RetainedFile[] => agesH.map((h, i) => ({ number: i + 1, bytes, newestMs: now - h * hourMs }));

test('nothing goes while the files fit and none is past the age limit', () => {
  const plan = planRetention(files(200, 50, 40, 30, 20), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(plan.removes, []);
  assert.equal(plan.keptBytes, 800);
});

test('the oldest files go while the total exceeds the size limit, oldest first', () => {
  const plan = planRetention(files(300, 50, 40, 30, 20, 12), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
  assert.equal(plan.keptBytes, 900);
  assert.deepEqual(plan.young, [], 'all removed files are older than the minimum retention');
});

test('files past the age limit go even when the total fits', () => {
  const plan = planRetention(files(10, 300, 150, 99, 5), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
});

test('the newest files are kept whatever the limits say', () => {
  const plan = planRetention(files(5000, 500, 400), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1]);
  assert.deepEqual(planRetention(files(5000, 500), limits, { localMs: now, agreedMs: now }, 1).removes, []);
});

test('a size-driven removal of a file with records younger than the minimum retention is named as young', () => {
  const plan = planRetention(files(400, 30, 5, 3, 1), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
  assert.deepEqual(plan.young.map((f) => f.number), [2]);
});

test('young history is at risk once the kept files fill the warning share of the limit while the oldest is young', () => {
  const share = limits.bytesMax * auditRetentionWarnPercent / 100;
  const below = planRetention([{ number: 1, bytes: share - 1, newestMs: now - hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, { localMs: now, agreedMs: now }, 1);
  assert.equal(below.atRisk, false);
  const at = planRetention([{ number: 1, bytes: share, newestMs: now - hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, { localMs: now, agreedMs: now }, 1);
  assert.equal(at.atRisk, true);
  const oldEnough = planRetention([{ number: 1, bytes: share, newestMs: now - 11 * hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, { localMs: now, agreedMs: now }, 1);
  assert.equal(oldEnough.atRisk, false, 'the oldest file holds nothing younger than the minimum retention');
});

// Retention by age needs the cluster's agreement on the time: a member whose clock runs far ahead
// must not delete its history on its own say (agreedNowMs: min(local now, cluster time + allowance)).
const dayMs = 24 * hourMs;
const allowanceMs = 10 * 60_000;

test('a local clock 91 days ahead of the cluster time deletes nothing by age and names what it holds back', () => {
  const aged = files(10, 50, 40, 30, 20);
  const localMs = now + 91 * dayMs;
  const plan = planRetention(aged, limits, { localMs, agreedMs: agreedNowMs(localMs, now, allowanceMs) }, 1);
  assert.deepEqual(plan.removes, []);
  assert.deepEqual(plan.heldBack.map((f) => f.number), [1, 2, 3], 'the local clock alone would have deleted these');
});

test('when the local clock and the cluster time agree, files past the age limit go as before, each with its reason', () => {
  const plan = planRetention(files(10, 300, 150, 99, 5), limits, { localMs: now, agreedMs: agreedNowMs(now, now - 60_000, allowanceMs) }, 1);
  assert.deepEqual(plan.removes.map((f) => [f.number, f.reason]), [[1, 'age'], [2, 'age']]);
  assert.deepEqual(plan.heldBack, []);
  const bySize = planRetention(files(300, 50, 40, 30, 20, 12), limits, { localMs: now, agreedMs: now }, 1);
  assert.deepEqual(bySize.removes.map((f) => [f.number, f.reason]), [[1, 'size'], [2, 'size']]);
});

test('with no cluster time, nothing goes by age, size still removes, and young history is still named', () => {
  assert.deepEqual(planRetention(files(10, 300, 150, 99, 5), limits, { localMs: now, agreedMs: undefined }, 1).removes, []);
  const plan = planRetention(files(400, 3000, 5, 3, 1), limits, { localMs: now, agreedMs: undefined }, 1);
  assert.deepEqual(plan.removes.map((f) => [f.number, f.reason]), [[1, 'size'], [2, 'size']]);
  assert.deepEqual(plan.young.map((f) => f.number), [2]);
});

test('the agreed time is the local clock when it is behind the cluster time, and at most the cluster time plus the allowance', () => {
  assert.equal(agreedNowMs(now, now + dayMs, allowanceMs), now);
  assert.equal(agreedNowMs(now + 91 * dayMs, now, allowanceMs), now + allowanceMs);
  assert.equal(agreedNowMs(now, undefined, allowanceMs), undefined);
});
