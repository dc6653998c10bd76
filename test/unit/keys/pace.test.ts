// The pace of a re-encryption pass as `coffer keys status` shows it: pages per second so far and the
// time the pages left would take, only while a pass runs and has re-sealed something.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeReencryption } from '../../../src/cli/commands/keys.ts';
import { reencryptionPace } from '../../../src/storage/barrier/index.ts';

test('pace is pages re-sealed per second since the start, and the time left is the pages left at that pace', () => {
  assert.deepEqual(reencryptionPace({ running: true, startedAtMs: 1_000, pagesResealed: 5_000 }, 12_000, 3_000), { pagesPerSecond: 2500, secondsLeft: 5 });
  assert.deepEqual(reencryptionPace({ running: true, startedAtMs: 1_000, pagesResealed: 0 }, 12_000, 3_000), {}, 'nothing re-sealed yet: no pace');
  assert.deepEqual(reencryptionPace({ running: false, startedAtMs: 1_000, pagesResealed: 5_000 }, 0, 3_000), {}, 'a finished pass has no pace');
});

test('the status cell shows progress, pace and time to go while a pass runs', () => {
  const base = { running: true, targetDekId: 2, pagesResealed: 5000, pagesOnOlderDeks: 12000 };
  assert.equal(describeReencryption({ ...base, pagesPerSecond: 2500, secondsLeft: 5 }), 'running: 5000 re-sealed, 12000 left, 2500 pages/s, about 5 s to go');
  assert.equal(describeReencryption({ ...base, pagesPerSecond: 10, secondsLeft: 1200 }), 'running: 5000 re-sealed, 12000 left, 10 pages/s, about 20 min to go');
  assert.equal(describeReencryption(base), 'running: 5000 re-sealed, 12000 left');
  assert.equal(describeReencryption({ ...base, running: false, pagesOnOlderDeks: 0 }), 'done');
  assert.equal(describeReencryption({ ...base, running: false, error: 'the store closed' }), 'stopped: the store closed');
});
