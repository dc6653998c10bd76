/**
 * Jepsen-style fault tests on real Coffer member processes: clients doing register read / write /
 * compare-and-set through different members — half through the JSON gateway, half over gRPC with the
 * `etcd3` npm client, in one history — while a seeded nemesis kills and restarts members,
 * pauses the leader beyond the election timeout, and cuts peer links one way or both; and, in the last
 * test, kills members with SIGKILL in the middle of a snapshot install, a DEK rotation and the WAL
 * re-seal after it, under the same load. The history must be linearizable, no acknowledged write may
 * be lost, every killed member must start again, and after healing every member holds the same store
 * at the same revision.
 *
 * Coffer only: a member that does not start fails the test (no fallback to another backend).
 * Seed: COFFER_JEPSEN_SEED (default: the clock); every test prints the seed and the command that
 * replays its schedule. Length: COFFER_JEPSEN_MS per run (default 25 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashPointFaults, describeFailure, type JepsenResult, runJepsen, withCluster } from '../../support/cluster/index.ts';

const durationMsOption = Number(process.env.COFFER_JEPSEN_MS ?? 25_000);
const baseSeed = Number(process.env.COFFER_JEPSEN_SEED ?? (Date.now() % 1_000_000_007));
const replay = `COFFER_JEPSEN_SEED=${baseSeed} node --import tsx --test test/integration/cluster/faults.test.ts`;

function checkRun(result: JepsenResult): void {
  assert.equal(result.check.verdict, 'ok', describeFailure(result));
  assert.deepEqual(result.lostWrites, [], 'every acknowledged write is in the store');
  assert.deepEqual(result.phantomValues, [], 'every value in the store was written by some operation');
  for (const [key, values] of result.finalValues) {
    assert.equal(new Set(values).size, 1, `every member reads the same final value of ${key}: ${JSON.stringify(values)}`);
  }
  const { digests, hashes } = result.convergence;
  assert.equal(new Set(digests).size, 1, `every member's store is identical at revision ${result.convergence.revision}`);
  if (hashes !== undefined) assert.equal(new Set(hashes).size, 1, `every member's hashkv is equal: ${hashes.join(',')}`);
}

function report(name: string, result: JepsenResult): void {
  process.stdout.write(`# ${name}: ${result.operations} ops in history, ${JSON.stringify(result.stats)}, `
    + `check ${result.check.verdict} (${result.check.steps} steps), revision ${result.convergence.revision}\n`);
}

for (const size of [3, 5]) {
  test(`coffer, ${size} members: register history under kills, pauses and link cuts is linearizable and the members converge`, { timeout: durationMsOption + 150_000 }, async () => {
    const durationMs = durationMsOption;
    const seed = baseSeed + size;
    process.stdout.write(`# jepsen x${size}: seed ${seed}; replay: ${replay}\n`);
    await withCluster({ size, backend: 'coffer' }, async (cluster) => {
      const result = await runJepsen({ cluster, seed, durationMs, log: (line) => process.stdout.write(`#   nemesis ${line}\n`) });
      report(`jepsen x${size}`, result);
      checkRun(result);
      assert.ok(result.stats.ok >= 50, `the cluster made progress under faults (${result.stats.ok} operations completed)`);
      for (const protocol of ['json', 'grpc'] as const) {
        assert.ok((result.stats.okByProtocol[protocol] ?? 0) >= 20, `clients of the ${protocol} API made progress: ${JSON.stringify(result.stats.okByProtocol)}`);
      }
      assert.ok(result.nemesis.length >= 2, 'the nemesis injected faults');
    });
  });
}

test('coffer, 3 members: SIGKILL during snapshot installs, DEK rotations and WAL re-seals under load', { timeout: Math.max(durationMsOption, 40_000) + 180_000 }, async () => {
  const seed = baseSeed + 7;
  process.stdout.write(`# jepsen crash points x3: seed ${seed}; replay: ${replay}\n`);
  // A small WAL compaction interval, so a follower that was down needs a snapshot when it returns.
  const memberArgs = ['--snapshot-count', '100', '--snapshot-catch-up-entries', '20'];
  // Each of the three kills takes a restart or two: give the run room for all of them.
  const durationMs = Math.max(durationMsOption, 40_000);
  await withCluster({ size: 3, backend: 'coffer', memberArgs }, async (cluster) => {
    const result = await runJepsen({
      cluster, seed, durationMs, faults: crashPointFaults, faultsInTurn: true, quietMs: [300, 800], log: (line) => process.stdout.write(`#   nemesis ${line}\n`),
    });
    report('jepsen crash points x3', result);
    checkRun(result);
    const kills = result.nemesis.filter((e) => e.includes('SIGKILL') && e.includes(' during '));
    assert.ok(kills.some((e) => e.includes('during a DEK rotation') && e.includes('DEKs')), `a kill landed inside a DEK rotation:\n${kills.join('\n')}`);
    assert.ok(kills.some((e) => e.includes('during a snapshot install')), `a kill was aimed at a snapshot install:\n${kills.join('\n')}`);
    assert.ok(kills.some((e) => e.includes('during the WAL re-seal')), `a kill was aimed at a WAL re-seal:\n${kills.join('\n')}`);
  });
});
