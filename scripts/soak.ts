/**
 * soak — the long run of the Jepsen-style fault test (test/integration/cluster/faults.test.ts is the
 * short one):
 *
 *   node --import tsx scripts/soak.ts [--duration 10m] [--members 3] [--backend coffer|etcd]
 *        [--seed N] [--round 60s] [--clients N] [--keys 4]
 *
 * One cluster for the whole run; the time is split into rounds, each a fresh seed and key prefix with
 * the workload and the nemesis (kills, leader pauses, one-way and two-way link cuts), then heal, final
 * reads, the linearizability check and the convergence check. Prints one JSON line per round and a
 * summary; exits 1 at the first failing round, keeping the cluster's directory and printing its logs.
 */
import { Command } from 'commander';
import { Cluster, defaultBackendName, describeFailure, runJepsen } from '../test/support/cluster/index.ts';

function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!match) throw new Error(`"${value}" must look like 90s, 10m or 1h`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`"${value}" is not a whole number`);
  return n;
};

const program = new Command('soak')
  .description('long Jepsen-style fault run against a real cluster')
  .option('--duration <d>', 'total run time', duration, 600_000)
  .option('--round <d>', 'length of one checked round', duration, 60_000)
  .option('--members <n>', 'cluster size', int, 3)
  .option('--backend <name>', 'coffer or etcd (default: coffer if `coffer server` exists)')
  .option('--seed <n>', 'first round\'s seed (default: time based, printed)', int)
  .option('--clients <n>', 'workload clients (default 2 per member)', int)
  .option('--keys <n>', 'registers', int, 4);
program.parse();
const options = program.opts<{ duration: number; round: number; members: number; backend?: string; seed?: number; clients?: number; keys: number }>();

const backend = options.backend ?? defaultBackendName();
if (backend !== 'coffer' && backend !== 'etcd') throw new Error(`--backend "${backend}" must be coffer or etcd`);
const seed0 = options.seed ?? Date.now() % 1_000_000_007;
process.stdout.write(`soak: ${backend} x${options.members}, ${options.duration / 1000} s in rounds of ${options.round / 1000} s, seed ${seed0}\n`);

const cluster = await Cluster.start({ size: options.members, backend });
const started = Date.now();
const totals = { rounds: 0, operations: 0, ok: 0, indeterminate: 0, faults: 0 };
let failed = false;
try {
  for (let round = 0; Date.now() - started < options.duration; round++) {
    const seed = seed0 + round;
    const durationMs = Math.min(options.round, Math.max(5_000, options.duration - (Date.now() - started)));
    const result = await runJepsen({
      cluster, seed, durationMs, keys: options.keys, ...(options.clients === undefined ? {} : { clients: options.clients }),
    });
    const same = new Set(result.convergence.digests).size === 1 && (result.convergence.hashes === undefined || new Set(result.convergence.hashes).size === 1);
    const agree = [...result.finalValues.values()].every((values) => new Set(values).size === 1);
    totals.rounds++;
    totals.operations += result.operations;
    totals.ok += result.stats.ok;
    totals.indeterminate += result.stats.indeterminate;
    totals.faults += result.nemesis.filter((e) => !e.includes('healed') && !e.includes('restarted') && !e.includes('SIGCONT')).length;
    process.stdout.write(`${JSON.stringify({
      round, seed, verdict: result.check.verdict, operations: result.operations, ...result.stats, revision: result.convergence.revision,
      converged: same, finalValuesAgree: agree, phantomValues: result.phantomValues.length, nemesis: result.nemesis.length,
    })}\n`);
    if (result.check.verdict !== 'ok' || !same || !agree || result.phantomValues.length > 0) {
      process.stdout.write(`${describeFailure(result)}\n`);
      failed = true;
      break;
    }
  }
} catch (error) {
  process.stdout.write(`soak: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  failed = true;
}
if (failed) process.stderr.write(await cluster.describeFailure('soak failed'));
await cluster.stop(failed);
process.stdout.write(`soak: ${failed ? 'FAILED' : 'passed'} ${JSON.stringify({ ...totals, seconds: Math.round((Date.now() - started) / 1000) })}\n`);
process.exitCode = failed ? 1 : 0;
