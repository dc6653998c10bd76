// Automatic history compaction on an in-process cluster of three replicas (real WAL, LevelDB and
// keyrings), each member with its own HistoryCompactor on its own ManualClock: nothing is compacted
// before one retention interval; then the leader alone compacts, through Raft, to the revision that was
// current one interval earlier, and every member applies it; after a leadership transfer the new
// leader goes on and the old one proposes nothing; once compacted, reads and watches from older
// revisions fail with the compaction (the API answers them 410 Gone).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { historyRetentionMsDefault } from '../../../src/config/index.ts';
import { Registry, secrets, watchObjects } from '../../../src/registry/index.ts';
import { HistoryCompactor } from '../../../src/server/history-compactor.ts';
import type { WriteOp } from '../../../src/storage/mvcc/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { backendOf, InProcessCluster, waitLimitMs } from './harness.ts';

const retentionMs = historyRetentionMsDefault;
const startMs = Date.parse('2030-01-01T00:00:00Z');

interface Member { clock: ManualClock; compactor: HistoryCompactor; proposed: WriteOp[] }

let cluster: InProcessCluster;
const members = new Map<number, Member>();
const enc = (s: string) => new TextEncoder().encode(s);

before(async () => {
  cluster = await InProcessCluster.start(3);
  await put('before-start', 'old');
});

after(async () => {
  for (const m of members.values()) await m.compactor.stop();
  await cluster.close();
});

async function put(key: string, value: string): Promise<number> {
  const result = await backendOf(cluster.replica(await cluster.leader())).propose({ type: 'put', key: enc(key), value: enc(value) });
  await applied(result.revision);
  return result.revision;
}

/** Resolves when every running replica has applied `revision`. */
function applied(revision: number): Promise<true> {
  return waitUntil(() => [...cluster.replicas.values()].every((r) => r.mvcc().currentRevision() >= revision), waitLimitMs, `every member applies revision ${revision}`);
}

/** Resolves when every running replica's store is compacted at `revision`. */
function compactedEverywhereAt(revision: number): Promise<true> {
  return waitUntil(() => [...cluster.replicas.values()].every((r) => r.mvcc().compactRevision() === revision), waitLimitMs, `every member compacts at revision ${revision}`);
}

/** Moves every member's clock by `ms` and lets the ticks that fell due finish. */
async function advance(ms: number): Promise<void> {
  for (const m of members.values()) m.clock.advance(ms);
  await Promise.all([...members.values()].map((m) => m.compactor.settled()));
}

const compactionsBy = (id: number) => members.get(id)!.proposed.filter((op) => op.type === 'compact').map((op) => op.type === 'compact' ? op.revision : 0);

test('nothing before one interval; then the leader alone compacts to the revision of one interval earlier, on every member', async () => {
  const atStart = await put('k', 'v1');
  for (const id of [1, 2, 3]) {
    const backend = backendOf(cluster.replica(id));
    const member: Member = { clock: new ManualClock(startMs + id * 1_000), proposed: [], compactor: undefined as unknown as HistoryCompactor };
    // The deliberate seam: the backend as the member has it, with its proposals recorded.
    member.compactor = new HistoryCompactor({
      backend: { ...backend, propose: (op) => { member.proposed.push(op); return backend.propose(op); } },
      clock: member.clock, retentionMs,
    });
    member.compactor.start();
    members.set(id, member);
  }
  const duringFirst = await put('k', 'v2');

  await advance(retentionMs - 1);
  for (const r of cluster.replicas.values()) assert.equal(r.mvcc().compactRevision(), 0, 'not compacted before one interval');

  await advance(1);
  await compactedEverywhereAt(atStart);
  const leader = await cluster.leader();
  assert.deepEqual(compactionsBy(leader), [atStart], 'the leader compacted to the revision current one interval earlier');
  for (const id of [1, 2, 3].filter((i) => i !== leader)) assert.deepEqual(compactionsBy(id), [], 'followers propose nothing');

  // Writes of the second interval stay; the first interval's are compacted one interval later.
  const duringSecond = await put('k', 'v3');
  await advance(retentionMs);
  await compactedEverywhereAt(duringFirst);
  assert.deepEqual(compactionsBy(leader), [atStart, duringFirst]);
  const replica = cluster.replica(leader);
  await assert.rejects(replica.mvcc().range(enc('k'), undefined, { revision: duringFirst - 1 }), { code: 'E_COMPACTED' });
  const kept = await replica.mvcc().range(enc('k'), undefined, { revision: duringFirst });
  assert.equal(new TextDecoder().decode(kept.kvs[0]?.value), 'v2');
  assert.ok(duringSecond > duringFirst);
});

test('an interval without writes compacts nothing more', async () => {
  const leader = await cluster.leader();
  await advance(retentionMs); // the sample now is the last revision written
  const before = compactionsBy(leader).length;
  const compactRevision = cluster.replica(leader).mvcc().compactRevision();
  await advance(retentionMs);
  assert.equal(compactionsBy(leader).length, before, 'the same target is not compacted again');
  assert.equal(cluster.replica(leader).mvcc().compactRevision(), compactRevision);
});

test('across a leadership transfer the new leader compacts to its own sample of one interval earlier; the old leader proposes nothing', async () => {
  const first = await cluster.leader();
  const next = first === 1 ? 2 : 1;
  backendOf(cluster.replica(first)).transferLeadership(next);
  await waitUntil(() => cluster.replica(next).status().role === 'leader', waitLimitMs, `member ${next} becomes leader`);
  const firstBefore = compactionsBy(first).length;

  const sampled = await put('k', 'after-transfer');
  await advance(retentionMs); // every member samples `sampled`
  const younger = await put('k', 'younger');
  await advance(retentionMs);
  await compactedEverywhereAt(sampled);
  assert.equal(compactionsBy(next).at(-1), sampled, 'the new leader compacted, to the revision of one interval earlier');
  assert.equal(compactionsBy(first).length, firstBefore, 'the old leader did not');
  const read = await cluster.replica(next).mvcc().range(enc('k'), undefined, { revision: younger });
  assert.equal(new TextDecoder().decode(read.kvs[0]?.value), 'younger', 'history younger than one interval is kept');
});

test('the leader stopped: a survivor leads and compacts on; the stopped member comes back with the compaction it had applied', async () => {
  const stopped = await cluster.leader();
  const compactRevision = cluster.replica(stopped).mvcc().compactRevision();
  await members.get(stopped)!.compactor.stop();
  members.delete(stopped);
  await cluster.stopMember(stopped);
  const survivor = await cluster.leader();
  assert.notEqual(survivor, stopped);

  const sampled = await put('k', 'after-stop');
  await advance(retentionMs);
  await put('k', 'after-stop-2');
  await advance(retentionMs);
  await compactedEverywhereAt(sampled);
  assert.equal(compactionsBy(survivor).at(-1), sampled);

  const restarted = await cluster.startMember(stopped, `m${stopped}`);
  assert.ok(restarted.mvcc().compactRevision() >= compactRevision, 'the compaction applied before the stop is kept');
  await waitUntil(() => restarted.mvcc().compactRevision() === sampled, waitLimitMs, 'the restarted member catches up with the compaction at the sampled revision');
});

test('a watch from a compacted revision fails with the compaction, in the store and in the registry (the API maps it to 410)', async () => {
  const leader = await cluster.leader();
  const backend = backendOf(cluster.replica(leader));
  const compactRevision = backend.mvcc().compactRevision();
  assert.ok(compactRevision > 1);
  assert.throws(() => backend.mvcc().watch({ key: enc('k'), startRevision: compactRevision - 1 }), { code: 'E_COMPACTED', compactRevision });
  await assert.rejects(watchObjects(backend, new Registry(backend), secrets, 'default', { resourceVersion: compactRevision - 1 }), { code: 'Expired' });
  // At the compact revision itself history is whole: the watch starts.
  const current = await watchObjects(backend, new Registry(backend), secrets, 'default', { resourceVersion: compactRevision });
  current.cancel();
});
