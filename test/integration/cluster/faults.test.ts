/**
 * Jepsen-style fault test on real member processes: clients doing register read / write /
 * compare-and-set through different members while a seeded nemesis kills and restarts members,
 * pauses the leader beyond the election timeout, and cuts peer links one way or both. The history must
 * be linearizable; after healing every member holds the same store at the same revision, and the final
 * values were all written by operations in the history (acknowledged writes survive: the final reads
 * are part of the checked history).
 *
 * Backend: COFFER_CLUSTER_BACKEND=coffer|etcd, else coffer once `coffer server` exists, else etcd.
 * Seed: COFFER_JEPSEN_SEED (printed either way, so a failure can be rerun); length:
 * COFFER_JEPSEN_MS per cluster size (default 25 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultBackendName, describeFailure, runJepsen, withCluster } from '../../support/cluster/index.ts';

const backend = defaultBackendName();
const durationMs = Number(process.env.COFFER_JEPSEN_MS ?? 25_000);
const baseSeed = Number(process.env.COFFER_JEPSEN_SEED ?? (Date.now() % 1_000_000_007));

for (const size of [3, 5]) {
  test(`${backend}, ${size} members: register history under kills, pauses and link cuts is linearizable and the members converge`, { timeout: durationMs + 150_000 }, async () => {
    const seed = baseSeed + size;
    process.stdout.write(`# jepsen ${backend} x${size}: seed ${seed} (COFFER_JEPSEN_SEED=${baseSeed}), ${durationMs} ms\n`);
    await withCluster({ size, backend }, async (cluster) => {
      const result = await runJepsen({ cluster, seed, durationMs, log: (line) => process.stdout.write(`#   nemesis ${line}\n`) });
      process.stdout.write(`# jepsen ${backend} x${size}: ${result.operations} ops in history, ${JSON.stringify(result.stats)}, `
        + `check ${result.check.verdict} (${result.check.steps} steps), revision ${result.convergence.revision}\n`);

      assert.equal(result.check.verdict, 'ok', describeFailure(result));
      assert.ok(result.stats.ok >= 50, `the cluster made progress under faults (${result.stats.ok} operations completed)`);
      assert.ok(result.nemesis.length >= 2, 'the nemesis injected faults');
      assert.deepEqual(result.phantomValues, [], 'every final value was written by some operation');
      for (const [key, values] of result.finalValues) {
        assert.equal(new Set(values).size, 1, `every member reads the same final value of ${key}: ${JSON.stringify(values)}`);
      }
      const { digests, hashes } = result.convergence;
      assert.equal(new Set(digests).size, 1, `every member's store is identical at revision ${result.convergence.revision}`);
      if (hashes !== undefined) assert.equal(new Set(hashes).size, 1, `every member's hashkv is equal: ${hashes.join(',')}`);
    });
  });
}
