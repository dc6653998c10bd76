/**
 * Issue 7's real-process tests on a 3-member cluster: a write through any member is read
 * linearizably from every member; a restarted follower catches up; a write acknowledged to a client
 * survives SIGKILL of any minority at any moment; a new member joins as a learner, catches up and is
 * promoted; a removed member cannot write.
 *
 * Backend as in faults.test.ts (COFFER_CLUSTER_BACKEND, else coffer once `coffer server` exists, else etcd).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../src/base/index.ts';
import { isClientError, text } from '../../../src/client/index.ts';
import { Cluster, defaultBackendName, delay, retryUnhealthy, waitConverged } from '../../support/cluster/index.ts';

const backend = defaultBackendName();

describe(`${backend}, 3 members`, { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let failed = false;

  before(async () => {
    cluster = await Cluster.start({ size: 3, backend, spares: 1 });
  });

  after(async () => {
    if (failed) process.stderr.write(await cluster.describeFailure('a test failed'));
    await cluster.stop(failed);
  });

  /** Marks the cluster's logs for printing when a test body throws. */
  async function guarded(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      failed = true;
      throw error;
    }
  }

  test('a write through any member is read linearizably from every member', () => guarded(async () => {
    for (let writer = 0; writer < cluster.size; writer++) {
      const key = `any/${writer}`;
      await cluster.client(writer).put(key, `from-${writer}`);
      // No wait between the acknowledgement and the reads: a linearizable read must already see it.
      for (let reader = 0; reader < cluster.size; reader++) {
        const got = await cluster.client(reader).get(key);
        assert.equal(got === undefined ? undefined : text(got.value), `from-${writer}`, `member ${cluster.names[reader]} reads ${key}`);
      }
    }
  }));

  test('a restarted follower catches up with the writes it missed', () => guarded(async () => {
    const leader = await cluster.leader();
    const follower = (leader + 1) % cluster.size;
    await cluster.kill(follower);
    const writer = cluster.client(leader);
    const count = 200;
    for (let i = 0; i < count; i++) await writer.put(`catchup/${String(i).padStart(4, '0')}`, `v${i}`);
    await cluster.restart(follower);
    const converged = await waitConverged(cluster, 'catchup/');
    assert.equal(new Set(converged.digests).size, 1, 'the follower holds exactly what the others hold');
    const local = await cluster.client(follower).range('catchup/', { prefix: true, serializable: true });
    assert.equal(local.count, count, 'the follower\'s own store (serializable read) has every write');
    assert.equal(text(local.kvs[count - 1]?.value ?? new Uint8Array()), `v${count - 1}`);
  }));

  test('a write acknowledged to a client survives SIGKILL of any minority at any moment', () => guarded(async () => {
    const random = seededRandom(Number(process.env.COFFER_JEPSEN_SEED ?? 7));
    const acked = new Map<string, string>();
    let stopping = false;
    const writers = [0, 1, 2, 3].map(async (w) => {
      const client = cluster.client([w % cluster.size, (w + 1) % cluster.size, (w + 2) % cluster.size], { requestTimeoutMs: 3_000, connectTimeoutMs: 300 });
      for (let seq = 0; !stopping; seq++) {
        const key = `ack/${w}/${seq}`;
        try {
          await client.put(key, `${w}.${seq}`);
          acked.set(key, `${w}.${seq}`);
        } catch (error) {
          if (!isClientError(error)) throw error; // failed or indeterminate: not acknowledged, no claim
        }
      }
    });
    const minority = Math.floor((cluster.size - 1) / 2);
    for (let round = 0; round < 6; round++) {
      await delay(random.int(50, 600)); // a random moment in the write stream
      const victims = round % 2 === 0 ? [await cluster.leader()] : [random.int(0, cluster.size - 1)];
      while (victims.length < random.int(1, minority)) victims.push(random.int(0, cluster.size - 1));
      for (const v of new Set(victims)) await cluster.kill(v);
      await delay(random.int(100, 800));
      for (const v of new Set(victims)) await cluster.restart(v, { wait: false });
      await cluster.waitReady();
    }
    stopping = true;
    await Promise.all(writers);
    assert.ok(acked.size >= 20, `writes were acknowledged during the kills (${acked.size})`);
    await waitConverged(cluster, 'ack/');
    for (let member = 0; member < cluster.size; member++) {
      const all = await cluster.client(member).range('ack/', { prefix: true, serializable: true });
      const stored = new Map(all.kvs.map((kv) => [text(kv.key), text(kv.value)]));
      const missing = [...acked].filter(([key, value]) => stored.get(key) !== value).map(([key]) => key);
      assert.deepEqual(missing, [], `member ${cluster.names[member]} holds every acknowledged write`);
    }
  }));

  test('a new member joins as a learner, catches up with everything written before, is promoted and serves linearizable reads', () => guarded(async () => {
    const before = await waitConverged(cluster, 'ack/');
    const joined = await cluster.addMember({ learner: true });
    const caughtUp = await waitConverged(cluster, 'catchup/');
    assert.equal(new Set(caughtUp.digests).size, 1, 'the learner holds what the others hold');
    assert.ok(caughtUp.revision >= before.revision);
    const id = cluster.memberIds[joined] as string;
    const leader = cluster.client(await cluster.leader());
    const promoted = await retryUnhealthy(() => leader.memberPromote(id));
    assert.equal(promoted.members.find((m) => m.id === id)?.isLearner, false, 'the member is a voter now');
    await leader.put('joined/after-promote', 'yes');
    assert.equal(text((await cluster.client(joined).get('joined/after-promote'))?.value ?? new Uint8Array()), 'yes');
    assert.equal((await cluster.client(joined).range('ack/', { prefix: true, countOnly: true })).count,
      (await leader.range('ack/', { prefix: true, countOnly: true })).count);
  }));

  test('a removed member cannot write', () => guarded(async () => {
    const leader = await cluster.leader();
    const removed = (leader + 2) % cluster.size;
    const removedId = cluster.memberIds[removed];
    assert.ok(removedId !== undefined);
    const stay = cluster.client(leader);
    const list = await retryUnhealthy(() => stay.memberRemove(removedId));
    assert.ok(!list.members.some((m) => m.id === removedId), 'the member list no longer has it');
    const through = cluster.client(removed, { requestTimeoutMs: 3_000, connectTimeoutMs: 500 });
    let refused: unknown;
    try {
      await through.put('removed/write', 'must-not-commit');
    } catch (error) {
      refused = error;
    }
    assert.ok(isClientError(refused), 'a write through the removed member fails');
    // Whatever the removed member did with it, the cluster never committed it, and still takes writes.
    await stay.put('removed/after', 'ok');
    const how = isClientError(refused) ? `${refused.code}: ${refused.message}` : String(refused);
    assert.equal(await stay.get('removed/write'), undefined, `the write through the removed member (answered ${how}) was not committed`);
    const other = (leader + 1) % cluster.size;
    assert.equal(text((await cluster.client(other).get('removed/after'))?.value ?? new Uint8Array()), 'ok');
  }));
});
