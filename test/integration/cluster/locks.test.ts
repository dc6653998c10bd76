/**
 * Locks under faults: clients contend for one lock through the `etcd3` npm client's lock recipe over
 * gRPC (leases and a create-if-absent txn), each through a different member of 3 real Coffer processes,
 * while a seeded nemesis kills the leader, kills a minority, pauses and isolates the leader. The
 * history of tryLocks and unlocks must be linearizable against the mutex model — no two holders at
 * once, no refusal while the lock was free — and once every client has let go the lock key is gone.
 *
 * Seed: COFFER_JEPSEN_SEED (default: the clock), printed with the command that replays the schedule.
 * Length: COFFER_JEPSEN_MS (default 25 s).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { LockWorkload, Nemesis, withCluster } from '../../support/cluster/index.ts';
import { checkLinearizable, mutexModel } from '../../support/linearizability/index.ts';

const durationMs = Number(process.env.COFFER_JEPSEN_MS ?? 25_000);
const seed = Number(process.env.COFFER_JEPSEN_SEED ?? (Date.now() % 1_000_000_007));

test('coffer, 3 members: a lock contended over gRPC under leader kills, pauses and isolation is held by one client at a time', { timeout: durationMs + 150_000 }, async () => {
  process.stdout.write(`# locks x3: seed ${seed}; replay: COFFER_JEPSEN_SEED=${seed} node --import tsx --test test/integration/cluster/locks.test.ts\n`);
  await withCluster({ size: 3, backend: 'coffer' }, async (cluster) => {
    const name = `locks/${seed}`;
    const workload = new LockWorkload({ cluster, random: seededRandom(seed), clients: 6, name, opTimeoutMs: 3_000, thinkMsMax: 40 });
    const nemesis = new Nemesis({
      cluster, random: seededRandom(seed ^ 0x10c5), faults: ['kill-leader', 'kill-minority', 'pause-leader', 'isolate-leader'],
      log: (line) => process.stdout.write(`#   nemesis ${line}\n`),
    });
    workload.start();
    nemesis.start();
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    await nemesis.stop();
    await workload.stop();

    const check = checkLinearizable(mutexModel, workload.history);
    process.stdout.write(`# locks: ${workload.history.length} ops, ${JSON.stringify(workload.stats)}, check ${check.verdict} (${check.steps} steps)\n`);
    const describe = (ops: typeof workload.history) => ops.slice(-20).map((op) => `  ${mutexModel.describe!(op)}`).join('\n');
    assert.equal(check.verdict, 'ok', check.failure === undefined ? check.verdict
      : `longest linearized:\n${describe(check.failure.longestLinearized)}\nnemesis:\n${nemesis.events.join('\n')}`);
    assert.ok(workload.stats.acquired >= 10, `clients took the lock under faults (${workload.stats.acquired} times)`);
    assert.ok(workload.stats.refused >= 1, 'the lock was contended: some attempt found it held');
    assert.ok(nemesis.events.length >= 2, 'the nemesis injected faults');
    const left = await cluster.client(cluster.live()).get(name);
    assert.equal(left, undefined, 'every holder let go: the lock key is gone');
  });
});
