// The lessor over a real MVCC store with a manual clock: leases expire through a proposed revoke exactly
// once, keep-alives move the deadline, checkpoints batch every lease, a follower never proposes, and a
// new leader starts each lease within one election timeout of where the old one left it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { leaseCheckpointBatchMax } from '../../../src/config/index.ts';
import { Lessor, type LessorHost } from '../../../src/replication/lessor.ts';
import type { LeaseOp, MvccStore, WriteOp, WriteResponse } from '../../../src/storage/mvcc/index.ts';
import { b, type Fixture, fixture } from '../mvcc/helpers.ts';

const tickMs = 100;
const electionTimeoutMs = 1_000;

let fx: Fixture;
before(async () => {
  fx = await fixture('coffer-lessor-');
});
after(() => fx.cleanup());

/** One member's view: a lessor over the shared store, with its leadership as a flag. */
interface Member {
  lessor: Lessor;
  leader: boolean;
  proposed: LeaseOp[];
  barrier: () => Promise<void>;
  /** Runs as an operation is proposed, before it is committed: entries it applies come first in the log. */
  beforeCommit?: (op: LeaseOp) => void;
}

/** Applies operations as committed entries would be, in order, to the one store every member shares here. */
class Cluster {
  readonly clock = new ManualClock(1_000_000);
  private pending: Promise<unknown>[] = [];
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly store: MvccStore) {}

  apply(op: WriteOp): Promise<WriteResponse> {
    const run = this.tail.then(async () => {
      const [result] = await this.store.applyBatch(this.store.appliedIndex() + 1, [op]);
      if (!result!.ok) throw result!.error;
      return result!.response;
    });
    this.tail = run.catch(() => undefined);
    this.pending.push(run.catch(() => undefined));
    return run;
  }

  member(): Member {
    const member: Member = { leader: false, proposed: [], barrier: () => Promise.resolve(), lessor: undefined as unknown as Lessor };
    const host: LessorHost = {
      clock: this.clock,
      isLeader: () => member.leader,
      barrier: () => member.barrier(),
      propose: (op) => {
        member.proposed.push(op);
        member.beforeCommit?.(op);
        return this.apply(op);
      },
      leases: () => this.store.leases(),
    };
    member.lessor = new Lessor(host, { electionTimeoutMs, tickMs });
    return member;
  }

  /** Moves time by whole ticks, ticking each member and letting their proposals apply after each tick. */
  async run(ms: number, ...members: Member[]): Promise<void> {
    for (let t = 0; t < ms; t += tickMs) {
      this.clock.advance(tickMs);
      for (const m of members) m.lessor.tick();
      await this.settle();
    }
  }

  async settle(): Promise<void> {
    while (this.pending.length > 0) await Promise.all(this.pending.splice(0));
  }
}

async function withCluster(body: (cluster: Cluster) => Promise<void>): Promise<void> {
  const store = await fx.open(fx.newDir());
  try {
    await body(new Cluster(store));
  } finally {
    await store.close();
  }
}

const revokes = (m: Member) => m.proposed.filter((op) => op.type === 'leaseRevoke');

test('the shortest TTL is 1.5 election timeouts rounded up to whole seconds, as etcd derives it', () => {
  const host = { clock: new ManualClock(), isLeader: () => false, barrier: () => Promise.resolve(), propose: () => Promise.reject(new Error('none')), leases: () => [] };
  assert.equal(new Lessor(host, { electionTimeoutMs: 1_000, tickMs: 100 }).ttlMinSeconds, 2);
  assert.equal(new Lessor(host, { electionTimeoutMs: 5_000, tickMs: 500 }).ttlMinSeconds, 8);
});

test('a lease expires on the leader at its TTL: one revoke, its keys deleted, nothing proposed after', async () => {
  await withCluster(async (cluster) => {
    const leader = cluster.member();
    leader.leader = true;
    await cluster.apply({ type: 'leaseGrant', id: 1, ttl: 3 });
    await cluster.apply({ type: 'put', key: b('lock/a'), value: b('x'), lease: 1 });
    await cluster.run(tickMs, leader); // promotion: the barrier
    await cluster.run(2_800, leader);
    assert.equal(revokes(leader).length, 0, 'not before its TTL');
    assert.notEqual(cluster.store.lease(1), undefined);
    await cluster.run(400, leader);
    assert.deepEqual(revokes(leader), [{ type: 'leaseRevoke', id: 1, ifRefreshes: 0 }]);
    assert.equal(cluster.store.lease(1), undefined);
    assert.equal((await cluster.store.range(b('lock/a'))).count, 0);
    await cluster.run(2_000, leader);
    assert.equal(revokes(leader).length, 1, 'exactly one revoke');
  });
});

test('a keep-alive applied moves the deadline to a full TTL from then', async () => {
  await withCluster(async (cluster) => {
    const leader = cluster.member();
    leader.leader = true;
    await cluster.apply({ type: 'leaseGrant', id: 2, ttl: 3 });
    await cluster.run(2_500, leader);
    await cluster.apply({ type: 'leaseKeepAlive', id: 2 });
    await cluster.run(2_800, leader);
    assert.equal(revokes(leader).length, 0, 'alive 2.8 s after the keep-alive, past its first deadline');
    assert.ok(leader.lessor.remainingMs(cluster.store.lease(2)!) <= 300);
    await cluster.run(400, leader);
    assert.equal(cluster.store.lease(2), undefined);
  });
});

test('an expiry that a keep-alive overtakes in the log leaves the lease', async () => {
  await withCluster(async (cluster) => {
    const leader = cluster.member();
    leader.leader = true;
    await cluster.apply({ type: 'leaseGrant', id: 3, ttl: 2 });
    // A keep-alive from a client reaches the log between the lessor's revoke proposal and its commit.
    leader.beforeCommit = (op) => {
      if (op.type === 'leaseRevoke') void cluster.apply({ type: 'leaseKeepAlive', id: 3 });
    };
    await cluster.run(2_200, leader);
    leader.beforeCommit = undefined;
    assert.equal(revokes(leader).length, 1);
    assert.notEqual(cluster.store.lease(3), undefined, 'the stale revoke was a no-op');
    await cluster.run(1_000, leader);
    assert.notEqual(cluster.store.lease(3), undefined, 'the deadline moved with the keep-alive');
  });
});

test('a follower never proposes, and a leader proposes nothing before its barrier', async () => {
  await withCluster(async (cluster) => {
    const follower = cluster.member();
    const leader = cluster.member();
    leader.leader = true;
    leader.barrier = () => new Promise(() => undefined); // the new leader has not committed in its term
    await cluster.apply({ type: 'leaseGrant', id: 4, ttl: 2 });
    await cluster.run(5_000, follower, leader);
    assert.deepEqual(follower.proposed, []);
    assert.deepEqual(leader.proposed, []);
    assert.notEqual(cluster.store.lease(4), undefined);
  });
});

test('checkpoints record every lease each half election timeout, in batches of leaseCheckpointBatchMax', async () => {
  await withCluster(async (cluster) => {
    const leader = cluster.member();
    leader.leader = true;
    const count = leaseCheckpointBatchMax + 5;
    for (let id = 1; id <= count; id++) await cluster.apply({ type: 'leaseGrant', id, ttl: 60 });
    await cluster.run(tickMs, leader);
    await cluster.run(electionTimeoutMs, leader);
    const checkpoints = leader.proposed.filter((op) => op.type === 'leaseCheckpoint');
    assert.equal(checkpoints.length, 4, 'two rounds of two proposals in one election timeout');
    assert.deepEqual(checkpoints.map((c) => c.checkpoints.length), [leaseCheckpointBatchMax, 5, leaseCheckpointBatchMax, 5]);
    const recorded = cluster.store.lease(1)!.remainingTtlMs;
    assert.ok(recorded > 58_900 && recorded <= 59_500, `recorded ${recorded} ms remaining after about 1 s of a 60 s lease`);
  });
});

test('a leader change moves no lease by more than one election timeout, kept alive or not', async () => {
  await withCluster(async (cluster) => {
    const [a, b2] = [cluster.member(), cluster.member()];
    a.leader = true;
    await cluster.apply({ type: 'leaseGrant', id: 7, ttl: 60 });
    await cluster.apply({ type: 'leaseGrant', id: 8, ttl: 60 });
    await cluster.run(tickMs, a, b2);
    for (const stopAfterMs of [10_300, 10_450, 12_000]) {
      await cluster.run(stopAfterMs, a, b2);
      // Lease 8 is kept alive just before the old leader goes, after its last checkpoint.
      await cluster.apply({ type: 'leaseKeepAlive', id: 8 });
      await cluster.run(tickMs, a, b2);
      const before = { 7: a.lessor.remainingMs(cluster.store.lease(7)!), 8: a.lessor.remainingMs(cluster.store.lease(8)!) };
      a.leader = false;
      // No leader for an election's time: no member counts the lease down, as in etcd.
      cluster.clock.advance(2 * electionTimeoutMs);
      b2.leader = true;
      await cluster.run(tickMs, a, b2);
      await cluster.settle();
      const afterPromotion = { 7: b2.lessor.remainingMs(cluster.store.lease(7)!) + tickMs, 8: b2.lessor.remainingMs(cluster.store.lease(8)!) + tickMs };
      for (const id of [7, 8] as const) {
        const moved = afterPromotion[id] - before[id];
        assert.ok(moved >= 0 && moved <= electionTimeoutMs, `lease ${id} moved by ${moved} ms at the leader change after ${stopAfterMs} ms`);
      }
      [a.leader, b2.leader] = [true, false];
      await cluster.run(tickMs, a, b2);
    }
  });
});
