// `npm run bench -- --start-coffer --against-etcd --rounds N` as docs/performance.md runs it, briefly: both
// clusters up before the first run, each workload run on one system right after the other in the opposite
// order each round, every workload served unmeasured (--warmup) by each system before the first round,
// the disk's fdatasync rate measured at the start of every round, and each ratio the median of the
// rounds' pairs. Throughput is measured, never asserted.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { repoRoot } from '../../support/cluster/index.ts';

const benchTimeoutMs = 240_000;

type Line = Record<string, unknown>;

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: repoRoot, timeout: benchTimeoutMs },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }));
  });
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!;
};

test('--rounds warms both systems up, alternates them run by run, measures the disk each round and reports the median ratio', { timeout: benchTimeoutMs }, async () => {
  const run = await bench(['--start-coffer', '--from-source', '--against-etcd', '--members', '1', '--op', 'put', '--clients', '1,2',
    '--duration', '400ms', '--rounds', '3', '--warmup', '300ms']);
  assert.equal(run.code, 0, run.stderr);
  // Each system serves each workload once, unmeasured, before the first round; only stderr says so.
  const warmUps = [...run.stderr.matchAll(/^# (\w+): warm-up, (\w+) × (\d+) for 0\.3 s \((\d+) ops, not measured\)$/gm)];
  assert.deepEqual(warmUps.map((m) => `${m[1]} ${m[2]} ${m[3]}`), ['coffer put 1', 'coffer put 2', 'etcd put 1', 'etcd put 2'], run.stderr);
  for (const m of warmUps) assert.ok(Number(m[4]) > 0, `the warm-up served requests: ${m[0]}`);
  const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Line);
  const fsyncs = lines.filter((l) => 'fsync' in l).map((l) => l.fsync as Line);
  const runs = lines.filter((l) => 'target' in l);
  const ratios = lines.filter((l) => 'ratio' in l).map((l) => l.ratio as Line);

  assert.deepEqual(fsyncs.map((f) => f.round), [1, 2, 3]);
  for (const f of fsyncs) assert.ok(typeof f.syncsPerSec === 'number' && f.syncsPerSec > 0, `a measured fdatasync rate: ${JSON.stringify(f)}`);

  // Coffer first in odd rounds, etcd first in even ones; the two runs of a workload back to back.
  assert.deepEqual(runs.map((r) => `${String(r.round)} ${String(r.clients)} ${String(r.target)}`), [
    '1 1 coffer', '1 1 etcd', '1 2 coffer', '1 2 etcd',
    '2 1 etcd', '2 1 coffer', '2 2 etcd', '2 2 coffer',
    '3 1 coffer', '3 1 etcd', '3 2 coffer', '3 2 etcd',
  ]);
  for (const r of runs) {
    assert.equal(r.errors, 0, JSON.stringify(r));
    const fsync = fsyncs.find((f) => f.round === r.round)!;
    // One client's puts are set against the round's fdatasync rate; other client counts are not.
    if (r.clients === 1) assert.equal(r.perFsync, Math.round(((r.opsPerSec as number) / (fsync.syncsPerSec as number)) * 1000) / 1000);
    else assert.equal(r.perFsync, undefined);
  }

  assert.equal(ratios.length, 2);
  for (const ratio of ratios) {
    const perRound = [1, 2, 3].map((round) => {
      const of = (target: string): number => runs.find((r) => r.round === round && r.clients === ratio.clients && r.target === target)!.opsPerSec as number;
      return Math.round((of('coffer') / of('etcd')) * 1000) / 1000;
    });
    assert.deepEqual([ratio.op, ratio.rounds], ['put', 3]);
    assert.equal(ratio.opsPerSec, median(perRound), `the median of ${perRound.join(', ')}`);
    assert.deepEqual([ratio.opsPerSecMin, ratio.opsPerSecMax], [Math.min(...perRound), Math.max(...perRound)]);
  }

  // Each member's counters are read over every run of both systems, labelled with its round.
  const profiles = lines.filter((l) => 'profile' in l).map((l) => l.profile as Line);
  assert.deepEqual(profiles.map((p) => `${String(p.target)} ${String(p.round)} ${String(p.clients)}`).sort(),
    runs.map((r) => `${String(r.target)} ${String(r.round)} ${String(r.clients)}`).sort());
});

test('--rounds takes a positive whole number', async () => {
  const run = await bench(['--against-etcd', '--rounds', '0']);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /--rounds "0" must be a positive whole number/);
});

test('--warmup takes a duration or 0', async () => {
  const run = await bench(['--against-etcd', '--warmup', '5']);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /--warmup "5" must look like 500ms, 10s or 1m/);
});
