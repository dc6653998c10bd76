import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { CompactedError, raftConfigDefaults, UnavailableError } from '../../../src/raft/index.ts';
import { encodeCommand } from '../../../src/replication/command.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { InProcessCluster, testTickMs, urlsOf, waitLimitMs } from './harness.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

test('a write through any member is read linearizably from every member', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    await cluster.leader();
    for (const id of [1, 2, 3]) {
      const response = await cluster.replica(id).propose({ type: 'put', key: text(`k${id}`), value: text(`v${id}`) });
      assert.equal(response.type, 'put');
      for (const reader of [1, 2, 3]) {
        const read = await cluster.replica(reader).range(text(`k${id}`), undefined, { linearizable: true });
        assert.equal(str(read.kvs[0]?.value), `v${id}`, `member ${reader} reads k${id} after it was acknowledged`);
      }
    }
    const members = cluster.replica(1).memberList();
    assert.deepEqual(members.map((m) => m.name), ['m1', 'm2', 'm3']);
  } finally {
    await cluster.close();
  }
});

test('a message addressed to another member is not stepped: a heartbeat at a higher term for member 3, delivered to the leader, leaves its term alone', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const [from, other] = [1, 2, 3].filter((id) => id !== leader);
    const before = cluster.replica(leader).status();
    cluster.replica(leader).receive({
      type: 'heartbeat', from: from!, to: other!, term: before.term + 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    });
    const after = cluster.replica(leader).status();
    assert.equal(after.term, before.term);
    assert.equal(after.leader, leader);
  } finally {
    await cluster.close();
  }
});

test('a committed entry that is not a command is applied as nothing, and one whose operation the store refuses is refused, alike on every member: every member goes on applying', async () => {
  // A member that forwards what no member makes (a bug, a version that encodes commands otherwise, a stolen
  // member certificate) had it committed, and every member stopped at the entry it could not decode, at
  // every restart too.
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const from = [1, 2, 3].find((id) => id !== leader)!;
    const before = cluster.replica(leader).status();
    const commands = [
      { requestId: 'r1', op: { type: 'no such op' } }, { requestId: 'r2', op: { type: 'put', key: 'not bytes', value: 7 } },
      { requestId: 'r3', op: { type: 'deleteRange' } }, { requestId: 'r4', op: { type: 'txn', compare: 'x', success: [], failure: [] } },
    ].map((command) => encodeCommand(command as never));
    const garbage = [text('not a command'), Uint8Array.of(0x90), new Uint8Array([0x81, 0xa1, 0x78, 0x01]), ...commands];
    for (const data of garbage) {
      cluster.replica(leader).receive({
        type: 'prop', from, to: leader, term: 0, logTerm: 0, index: 0, entries: [{ type: 'normal', term: 0, index: 0, data }], commit: 0, reject: false, rejectHint: 0,
      });
    }
    const response = await cluster.replica(from).propose({ type: 'put', key: text('after-garbage'), value: text('v') });
    assert.equal(response.type, 'put');
    for (const id of [1, 2, 3]) {
      const read = await cluster.replica(id).range(text('after-garbage'), undefined, { linearizable: true });
      assert.equal(str(read.kvs[0]?.value), 'v', `member ${id} applied the write after the garbage`);
    }
    assert.equal(cluster.replica(leader).status().raftIndex, before.raftIndex + garbage.length + 1, 'each was committed, and the write after them');
    // Every member applied through them all: what they hold is the same.
    const hashes = await Promise.all([1, 2, 3].map(async (id) => (await cluster.replica(id).mvcc().hash(0)).hash));
    assert.equal(new Set(hashes).size, 1, `the members' stores: ${hashes.join(', ')}`);
  } finally {
    await cluster.close();
  }
});

test('a leader stopping hands leadership to another voter first, which then takes writes', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    await cluster.replica(leader).handOffLeadership(waitLimitMs);
    assert.notEqual(cluster.replica(leader).status().role, 'leader');
    const next = await waitUntil(() => {
      const seen = cluster.replica(leader).status().leader;
      return seen !== 0 && seen !== leader ? seen : undefined;
    }, waitLimitMs, 'another member leading');
    const response = await cluster.replica(next).propose({ type: 'put', key: text('after-hand-off'), value: text('v') });
    assert.equal(response.type, 'put');
    // A member that does not lead has nothing to hand over.
    await cluster.replica(leader).handOffLeadership(waitLimitMs);
    assert.equal(cluster.replica(next).status().role, 'leader');
  } finally {
    await cluster.close();
  }
});

test('under concurrent writes a member sends each peer one message per Ready, not one per write: appends and forwarded proposals are merged', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const writesPerMember = 200;
    const before = cluster.sent.length;
    await Promise.all([leader, follower].flatMap((id) => Array.from({ length: writesPerMember }, (_, i) =>
      cluster.replica(id).propose({ type: 'put', key: text(`m${id}/${i}`), value: text('v') }))));
    const sent = cluster.sent.slice(before);
    const appends = sent.filter((m) => m.from === leader && m.type === 'app' && m.entries > 0);
    const proposals = sent.filter((m) => m.from === follower && m.type === 'prop');
    // One by one, every write would go to each of two followers in an append of its own (800 appends),
    // and every forwarded write in a proposal of its own (200).
    assert.ok(appends.reduce((sum, m) => sum + m.entries, 0) >= 4 * writesPerMember, 'every write reached both followers');
    assert.ok(appends.length < writesPerMember, `the leader sent ${appends.length} appends for ${2 * writesPerMember} writes`);
    assert.ok(proposals.length < writesPerMember / 4, `the follower forwarded ${writesPerMember} writes in ${proposals.length} proposals`);
    assert.equal(str((await cluster.replica(follower).range(text(`m${leader}/${writesPerMember - 1}`), undefined, { linearizable: true })).kvs[0]?.value), 'v');
  } finally {
    await cluster.close();
  }
});

test('a lone voter elects itself as it opens, without waiting out an election timeout', async () => {
  // A tick of a minute: waiting out the election timeout would take ten minutes or more.
  const cluster = await InProcessCluster.start(1, { tickMs: 60_000 });
  try {
    assert.equal(await cluster.leader(), 1);
  } finally {
    await cluster.close();
  }
});

test('members opening together elect a leader before one election timeout has passed', async () => {
  const tickMs = 300;
  const timeoutMs = raftConfigDefaults.electionTicks * tickMs;
  const start = performance.now();
  const cluster = await InProcessCluster.start(3, { tickMs });
  try {
    await cluster.leader();
    const elapsedMs = performance.now() - start;
    // Without the advance no member campaigns before electionTicks of its own ticks have passed.
    assert.ok(elapsedMs < timeoutMs, `a leader after ${Math.round(elapsedMs)} ms, an election timeout is ${timeoutMs} ms`);
  } finally {
    await cluster.close();
  }
});

test('a member rejoining a healthy cluster with its election ticks advanced does not disrupt the leader', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const term = cluster.replica(leader).status().term;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    for (let round = 0; round < 3; round++) {
      await cluster.stopMember(follower);
      await cluster.startMember(follower, `m${follower}`);
      assert.equal(await cluster.leader(), leader, `round ${round}: the leader stays`);
      // Past a whole election timeout, the restarted member's own clock has had every chance to campaign.
      await cluster.replica(leader).propose({ type: 'put', key: text('k'), value: text(String(round)) });
      await new Promise((resolve) => setTimeout(resolve, 3 * raftConfigDefaults.electionTicks * testTickMs));
      assert.equal(cluster.replica(leader).status().term, term, `round ${round}: no election was held`);
      assert.equal(cluster.replica(follower).status().term, term, `round ${round}: the restarted member is in the leader's term`);
    }
  } finally {
    await cluster.close();
  }
});

test('a commit index that moved alone costs no WAL write, and a member restarts from its store past the stored commit', async () => {
  const cluster = await InProcessCluster.start(1);
  try {
    await cluster.leader();
    for (let i = 0; i < 5; i++) await cluster.replica(1).propose({ type: 'put', key: text('a'), value: text(`v${i}`) });
    const applied = cluster.replica(1).status().appliedIndex;
    await cluster.stopMember(1);

    const memberDir = join(cluster.dir, 'm1');
    const keyring = await openKeyring({ dir: memberDir, kek: await keyFileKek(join(cluster.dir, 'm1.key')) });
    const wal = await Wal.open({
      dir: join(memberDir, 'wal'), sealer: keyring, storeId: 'm1/wal',
      raftErrors: { compacted: (index, first) => new CompactedError(index, first), unavailable: (index, last) => new UnavailableError(index, last) },
    });
    try {
      assert.ok(wal.lastIndex() >= applied, `the WAL holds every applied entry (last ${wal.lastIndex()}, applied ${applied})`);
      assert.ok(wal.initialState().hardState.commit < applied,
        `the stored commit ${wal.initialState().hardState.commit} stayed behind the applied index ${applied}: the puts' commits were not written on their own`);
    } finally {
      await wal.close();
      await keyring.close();
    }

    const restarted = await cluster.startMember(1, 'm1');
    assert.ok(restarted.status().appliedIndex >= applied, 'the store keeps its applied index');
    assert.equal(str((await restarted.range(text('a'), undefined, { linearizable: true })).kvs[0]?.value), 'v4');
    await restarted.propose({ type: 'put', key: text('a'), value: text('after') });
    assert.equal(str((await restarted.range(text('a'), undefined, { linearizable: true })).kvs[0]?.value), 'after');
  } finally {
    await cluster.close();
  }
});

test('a clean stop compacts the WAL to catchUpEntries behind the applied index; the member reopens with every value', async () => {
  const catchUpEntries = 5;
  const cluster = await InProcessCluster.start(1, { compaction: { everyEntries: 1_000, catchUpEntries } });
  try {
    await cluster.leader();
    const member = cluster.replica(1);
    for (let i = 0; i < 30; i++) await member.propose({ type: 'put', key: text(`k${i}`), value: text(`v${i}`) });
    assert.equal(member.status().snapshotIndex, 0, 'too few entries for a compaction while running');
    const applied = member.status().appliedIndex;
    await cluster.stopMember(1);
    const reopened = await cluster.startMember(1, 'm1');
    await cluster.leader();
    assert.equal(reopened.status().snapshotIndex, applied - catchUpEntries, 'the stop compacted the WAL as far as a running member would');
    const read = await reopened.range(text('k'), text('l'), { linearizable: true });
    assert.deepEqual(read.kvs.map((kv) => str(kv.value)).sort(), Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
    await reopened.propose({ type: 'put', key: text('k0'), value: text('after') });
    assert.equal(str((await reopened.range(text('k0'), undefined, { linearizable: true })).kvs[0]?.value), 'after');
  } finally {
    await cluster.close();
  }
});

test('a restarted follower catches up and keeps what it had', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.replica(leader).propose({ type: 'put', key: text('a'), value: text('1') });
    await cluster.stopMember(follower);
    for (let i = 0; i < 20; i++) await cluster.replica(leader).propose({ type: 'put', key: text('a'), value: text(String(i + 2)) });
    const restarted = await cluster.startMember(follower, `m${follower}`);
    const final = await cluster.replica(leader).range(text('a'), undefined, { linearizable: true });
    await waitUntil(() => restarted.status().appliedIndex >= cluster.replica(leader).status().appliedIndex, waitLimitMs, 'the restarted member catches up with the leader');
    const read = await restarted.range(text('a'), undefined, { linearizable: false });
    assert.equal(str(read.kvs[0]?.value), '21');
    assert.equal(read.revision, final.revision);
  } finally {
    await cluster.close();
  }
});

test('a new member joins as a learner through a snapshot, is promoted, and the table never reuses ids', async () => {
  const cluster = await InProcessCluster.start(3, { compaction: { everyEntries: 20, catchUpEntries: 5 } });
  try {
    const leader = await cluster.leader();
    for (let i = 0; i < 60; i++) await cluster.replica(leader).propose({ type: 'put', key: text(`key${i % 7}`), value: text(`value${i}`) });
    const added = await cluster.replica(leader).addMember({ name: 'm4', peerUrl: 'mem://m4', clientUrl: 'mem://m4/client', learner: true });
    assert.equal(added.id, 4);
    const joiner = await cluster.startMember(4, 'm4');
    // The store is swapped in before the WAL records the snapshot, so wait for both.
    await waitUntil(() => joiner.status().snapshotIndex > 0 && joiner.status().appliedIndex >= cluster.replica(leader).status().appliedIndex, waitLimitMs,
      'the joiner installs a snapshot and catches up with the leader');
    const hashes = await Promise.all([leader, 4].map(async (id) => (await cluster.replica(id).mvcc().hash()).hash));
    assert.equal(hashes[0], hashes[1], 'the joiner holds the same store as the leader');
    // The leader refuses to promote a learner it has not yet seen catch up; as with etcd, retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await cluster.replica(leader).promoteMember(4);
        break;
      } catch (error) {
        assert.match(String(error), /etcdserver: can only promote a learner member which is in sync with leader/);
        assert.ok(attempt < 500, 'the leader sees the learner catch up');
        await new Promise((resolve) => setTimeout(resolve, testTickMs));
      }
    }
    const removed = await cluster.replica(leader).removeMember(4);
    assert.equal(removed.removed, true);
    const again = await cluster.replica(leader).addMember({ name: 'm5', peerUrl: 'mem://m5', clientUrl: 'mem://m5/client', learner: true });
    assert.equal(again.id, 5, 'removed ids are not reused');
  } finally {
    await cluster.close();
  }
});

test('no member is added while a founding member has not recorded its URLs: the joiner could not be told where it is', async () => {
  const cluster = await InProcessCluster.start(3, { namesOnly: true });
  try {
    const leader = await cluster.leader();
    const joiner = { name: 'm4', peerUrl: 'mem://m4', clientUrl: 'mem://m4/client', learner: true };
    await cluster.replica(leader).publishSelf(urlsOf(leader));
    await assert.rejects(cluster.replica(leader).addMember(joiner),
      { code: 'E_BAD_REQUEST', message: /^etcdserver: re-configuration failed due to not enough started members/ });
    assert.equal(cluster.replica(leader).memberList().length, 3, 'nothing was added');
    for (const id of [1, 2, 3]) if (id !== leader) await cluster.replica(id).publishSelf(urlsOf(id));
    const added = await cluster.replica(leader).addMember(joiner);
    assert.equal(added.id, 4);
  } finally {
    await cluster.close();
  }
});

test('a follower cannot promote a learner the leader has not seen catch up: the leader decides, and the follower hears why', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    for (let i = 0; i < 10; i++) await cluster.replica(leader).propose({ type: 'put', key: text(`k${i}`), value: text('v') });
    await cluster.replica(follower).addMember({ name: 'm4', peerUrl: 'mem://m4', clientUrl: 'mem://m4/client', learner: true });
    // m4 is never started: it holds none of the log.
    await assert.rejects(cluster.replica(follower).promoteMember(4),
      { code: 'E_BAD_REQUEST', message: 'etcdserver: can only promote a learner member which is in sync with leader' });
    for (const id of [1, 2, 3]) {
      await waitUntil(() => cluster.replica(id).status().appliedIndex >= cluster.replica(leader).status().appliedIndex, waitLimitMs, `member ${id} applies what the leader has`);
      assert.equal(cluster.replica(id).memberList().find((m) => m.id === 4)?.learner, true, `member ${id} still lists m4 as a learner`);
    }
    await cluster.startMember(4, 'm4');
    await waitUntil(async () => {
      try {
        return (await cluster.replica(follower).promoteMember(4)).learner === false;
      } catch (error) {
        assert.match(String(error), /in sync with leader/);
        return false;
      }
    }, waitLimitMs, 'the follower promotes m4 once the leader has seen it catch up');
  } finally {
    await cluster.close();
  }
});

test('a removed member refuses writes', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.replica(leader).removeMember(victim);
    await waitUntil(() => cluster.replica(victim).status().removed, waitLimitMs, `member ${victim} learns it was removed`);
    await assert.rejects(cluster.replica(victim).propose({ type: 'put', key: text('x'), value: text('y') }), /was removed/);
  } finally {
    await cluster.close();
  }
});

test('an isolated leader loses leadership, the majority goes on, and after healing all agree', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const oldLeader = await cluster.leader();
    await cluster.replica(oldLeader).propose({ type: 'put', key: text('p'), value: text('before') });
    cluster.isolate(oldLeader);
    const others = [1, 2, 3].filter((id) => id !== oldLeader);
    const newLeader = await waitUntil(() => others.find((id) => cluster.replica(id).status().role === 'leader'), waitLimitMs, 'another member becomes leader');
    await cluster.replica(newLeader).propose({ type: 'put', key: text('p'), value: text('during') });
    // The isolated member cannot serve a linearizable read: it cannot confirm leadership.
    await assert.rejects(cluster.replica(oldLeader).range(text('p'), undefined, { linearizable: true }), /timed out/);
    cluster.heal();
    await waitUntil(() => cluster.replica(oldLeader).status().role !== 'leader', waitLimitMs, 'the old leader steps down');
    const read = await cluster.replica(oldLeader).range(text('p'), undefined, { linearizable: true });
    assert.equal(str(read.kvs[0]?.value), 'during');
    const hashes = await Promise.all([1, 2, 3].map(async (id) => (await cluster.replica(id).mvcc().hash(read.revision)).hash));
    assert.equal(new Set(hashes).size, 1, 'every member holds the same store at the same revision');
  } finally {
    await cluster.close();
  }
});

test('a removed member that never learned of its removal cannot get a write committed, and refuses writes once a peer tells it', async () => {
  const cluster = await InProcessCluster.start(3);
  try {
    const leader = await cluster.leader();
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    // The victim hears nothing more, so it never applies its own removal; it can still send.
    for (const id of [1, 2, 3]) if (id !== victim) cluster.cut(id, victim);
    await cluster.replica(leader).removeMember(victim);
    await assert.rejects(cluster.replica(victim).propose({ type: 'put', key: text('ghost'), value: text('x') }), /timed out|no leader/);
    const read = await cluster.replica(leader).range(text('ghost'), undefined, { linearizable: true });
    assert.equal(read.count, 0, 'nothing the removed member forwarded was committed');
    // A peer that applied the removal tells it so (the transport's removed frame): from then on it
    // knows, as if it had applied its removal, and refuses writes at once.
    assert.equal(cluster.replica(victim).status().removed, false, 'it has not learned it yet');
    cluster.replica(victim).learnRemoved();
    assert.equal(cluster.replica(victim).status().removed, true);
    await assert.rejects(cluster.replica(victim).propose({ type: 'put', key: text('ghost'), value: text('x') }), /was removed/);
  } finally {
    await cluster.close();
  }
});
