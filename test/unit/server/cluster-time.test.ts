// The cluster's time for audit retention by age: the lower median of the current members' newest
// replicated checkpoint times, so one member's clock, however far ahead, cannot move it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readNewestCheckpointTimes } from '../../../src/audit/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { ClusterTime, clusterTimeOf, lowerMedian } from '../../../src/server/cluster-time.ts';
import type { RangeResponse } from '../../../src/storage/mvcc/index.ts';

const dayMs = 86_400_000;
const t = Date.UTC(2026, 11, 6, 12);

test('the lower median: the middle time, the lower of the two middle ones, none of none', () => {
  assert.equal(lowerMedian([]), undefined);
  assert.equal(lowerMedian([t]), t);
  assert.equal(lowerMedian([t + 5, t]), t);
  assert.equal(lowerMedian([t + 2, t, t + 1]), t + 1);
  assert.equal(lowerMedian([t + 3, t, t + 2, t + 1]), t + 1);
});

test('a member whose clock is 91 days ahead does not move the cluster time; members without a checkpoint are left out', () => {
  const newest = new Map([['m1', t], ['m2', t - 30_000], ['m3', t + 91 * dayMs]]);
  assert.equal(clusterTimeOf(newest, ['m1', 'm2', 'm3']), t);
  assert.equal(clusterTimeOf(newest, ['m1', 'm2', 'm3', 'm4']), t, 'four members, three with a time: the middle of the three');
  assert.equal(clusterTimeOf(new Map([['m1', t], ['m3', t + 91 * dayMs]]), ['m1', 'm2', 'm3']), t, 'two with a time: the lower');
  assert.equal(clusterTimeOf(newest, ['m3']), t + 91 * dayMs, 'a single member: its own time (the defence needs three or more)');
  assert.equal(clusterTimeOf(new Map([['gone', t - 400 * dayMs], ['m1', t]]), ['m1']), t, 'a removed member\'s old checkpoints do not count');
  assert.equal(clusterTimeOf(new Map(), ['m1', 'm2', 'm3']), undefined);
});

const encoder = new TextEncoder();
/** What a local range over the store's checkpoint keys returns for these (key, value) pairs. */
function rangeOver(pairs: [string, string][]): () => Promise<RangeResponse> {
  const kvs = pairs.map(([key, value]) => ({ key: encoder.encode(key), value: encoder.encode(value), createRevision: 1, modRevision: 1, version: 1, lease: 0 }));
  return () => Promise.resolve({ kvs, count: kvs.length, more: false, revision: 1 } as unknown as RangeResponse);
}
const cp = (member: string, seq: number, ms: number) => [
  `\0coffer/audit/checkpoints/${member}/${String(seq).padStart(16, '0')}`, JSON.stringify({ member, seq, head: 'h', time: new Date(ms).toISOString(), signature: 's' }),
] as [string, string];

test('each member\'s newest checkpoint (by seq) gives its time; unparsable values are left out', async () => {
  const newest = await readNewestCheckpointTimes(rangeOver([
    cp('m1', 10, t - 60_000), cp('m1', 20, t), cp('m2', 7, t - 5_000), cp('m3', 3, t + 91 * dayMs),
    ['\0coffer/audit/checkpoints/m4/0000000000000001', 'not json'],
  ]));
  assert.deepEqual([...newest].sort(), [['m1', t], ['m2', t - 5_000], ['m3', t + 91 * dayMs]]);
});

test('ClusterTime keeps what it last read and rereads it every interval', async () => {
  const clock = new ManualClock(t);
  let times = new Map([['m1', t], ['m2', t], ['m3', t + 91 * dayMs]]);
  const cluster = new ClusterTime({ read: () => Promise.resolve(times), members: () => ['m1', 'm2', 'm3'], clock, intervalMs: 60_000, onError: (e) => assert.fail(e) });
  assert.equal(cluster.nowMs(), undefined, 'unknown until read');
  await cluster.refresh();
  assert.equal(cluster.nowMs(), t);
  cluster.start();
  times = new Map([['m1', t + 60_000], ['m2', t + 60_000], ['m3', t + 91 * dayMs]]);
  clock.advance(60_000);
  await cluster.stop();
  assert.equal(cluster.nowMs(), t + 60_000);
});
