import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRetention, type RetainedFile } from '../../../src/audit/retention.ts';
import { auditRetentionWarnPercent } from '../../../src/config/index.ts';

const hourMs = 3_600_000;
const now = 1_000 * hourMs;
const limits = { bytesMax: 1000, ageMsMax: 100 * hourMs, ageMsMin: 10 * hourMs };
/** Files of `bytes` each whose newest records are `agesH` hours old, oldest first. */
const files = (bytes: number, ...agesH: number[]): RetainedFile[] => agesH.map((h, i) => ({ number: i + 1, bytes, newestMs: now - h * hourMs }));

test('nothing goes while the files fit and none is past the age limit', () => {
  const plan = planRetention(files(200, 50, 40, 30, 20), limits, now, 1);
  assert.deepEqual(plan.removes, []);
  assert.equal(plan.keptBytes, 800);
});

test('the oldest files go while the total exceeds the size limit, oldest first', () => {
  const plan = planRetention(files(300, 50, 40, 30, 20, 12), limits, now, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
  assert.equal(plan.keptBytes, 900);
  assert.deepEqual(plan.young, [], 'all removed files are older than the minimum retention');
});

test('files past the age limit go even when the total fits', () => {
  const plan = planRetention(files(10, 300, 150, 99, 5), limits, now, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
});

test('the newest files are kept whatever the limits say', () => {
  const plan = planRetention(files(5000, 500, 400), limits, now, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1]);
  assert.deepEqual(planRetention(files(5000, 500), limits, now, 1).removes, []);
});

test('a size-driven removal of a file with records younger than the minimum retention is named as young', () => {
  const plan = planRetention(files(400, 30, 5, 3, 1), limits, now, 1);
  assert.deepEqual(plan.removes.map((f) => f.number), [1, 2]);
  assert.deepEqual(plan.young.map((f) => f.number), [2]);
});

test('young history is at risk once the kept files fill the warning share of the limit while the oldest is young', () => {
  const share = limits.bytesMax * auditRetentionWarnPercent / 100;
  const below = planRetention([{ number: 1, bytes: share - 1, newestMs: now - hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, now, 1);
  assert.equal(below.atRisk, false);
  const at = planRetention([{ number: 1, bytes: share, newestMs: now - hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, now, 1);
  assert.equal(at.atRisk, true);
  const oldEnough = planRetention([{ number: 1, bytes: share, newestMs: now - 11 * hourMs }, { number: 2, bytes: 0, newestMs: now }], limits, now, 1);
  assert.equal(oldEnough.atRisk, false, 'the oldest file holds nothing younger than the minimum retention');
});
