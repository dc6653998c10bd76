// Leases across real replicas: the lease state and key attachments survive a member's restart (WAL
// replay) and reach a follower that catches up by a Raft snapshot, which then hashes equal to the leader
// (HashKV covers leases); a lease whose leader stopped is expired by the next leader, once, on every member.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../../support/wait.ts';
import { InProcessCluster, waitLimitMs } from './harness.ts';

const text = (s: string) => new TextEncoder().encode(s);
/** What every member must agree on of a lease (its remaining TTL moves with the leader's checkpoints). */
const stable = (lease: { id: number; ttl: number; refreshes: number; remainingTtlMs: number; keys: Uint8Array[] } | undefined) => lease && {
  id: lease.id, ttl: lease.ttl, refreshes: lease.refreshes, checkpointed: lease.remainingTtlMs > 0 && lease.remainingTtlMs <= lease.ttl * 1000,
  keys: lease.keys.map((k) => new TextDecoder().decode(k)),
};

test('leases and their keys survive a restart and reach a follower through a snapshot', async () => {
  const cluster = await InProcessCluster.start(3, { compaction: { everyEntries: 20, catchUpEntries: 5 } });
  try {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.stopMember(follower);
    const granted = await cluster.replica(leader).propose({ type: 'leaseGrant', id: 0, ttl: 600 });
    assert.equal(granted.type, 'leaseGrant');
    const id = granted.type === 'leaseGrant' ? granted.id : 0;
    await cluster.replica(leader).propose({ type: 'put', key: text('session/a'), value: text('1'), lease: id });
    await cluster.replica(leader).propose({ type: 'leaseKeepAlive', id });
    for (let i = 0; i < 60; i++) await cluster.replica(leader).propose({ type: 'put', key: text(`filler${i % 5}`), value: text(String(i)) });
    // The leader's lessor checkpoints the lease's remaining TTL every half election timeout.
    await waitUntil(() => stable(cluster.replica(leader).mvcc().lease(id))?.checkpointed, waitLimitMs, 'a checkpoint of the lease');
    const expected = { id, ttl: 600, refreshes: 1, checkpointed: true, keys: ['session/a'] };

    const restarted = await cluster.startMember(follower, `m${follower}`);
    await waitUntil(() => restarted.status().snapshotIndex > 0 && restarted.status().appliedIndex >= cluster.replica(leader).status().appliedIndex, waitLimitMs,
      'the stopped follower catches up through a snapshot');
    assert.deepEqual(stable(restarted.mvcc().lease(id)), expected, 'the snapshot carried the lease and its key');
    // HashKV covers the leases: the follower and the leader hash equal (checkpoints, still arriving, are not in it).
    const [leaderHash, followerHash] = await Promise.all([cluster.replica(leader).mvcc().hash(0), restarted.mvcc().hash(0)]);
    assert.deepEqual(followerHash, leaderHash, 'the follower and the leader hash equal, leases included');

    await cluster.stopMember(follower);
    const again = await cluster.startMember(follower, `m${follower}`);
    assert.deepEqual(stable(again.mvcc().lease(id)), expected, 'and the restart kept them');
    assert.equal((await again.range(text('session/a'), undefined, { linearizable: false })).kvs[0]?.lease, id);
  } finally {
    await cluster.close();
  }
});

test('when the leader stops, the next leader expires the lease: its key goes on every member that runs', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const ttlMin = cluster.replica(leader).leaseTtlMinSeconds();
    const granted = await cluster.replica(leader).propose({ type: 'leaseGrant', id: 0, ttl: ttlMin });
    const id = granted.type === 'leaseGrant' ? granted.id : 0;
    await cluster.replica(leader).propose({ type: 'put', key: text('ephemeral'), value: text('v'), lease: id });
    await cluster.stopMember(leader);
    const others = [1, 2, 3].filter((m) => m !== leader);
    await waitUntil(() => others.every((m) => cluster.replica(m).mvcc().lease(id) === undefined), waitLimitMs + ttlMin * 1000,
      'the new leader to expire the lease');
    for (const m of others) {
      const read = await cluster.replica(m).range(text('ephemeral'), undefined, { linearizable: true });
      assert.equal(read.count, 0, `member ${m} no longer holds the key`);
    }
  } finally {
    await cluster.close();
  }
});
