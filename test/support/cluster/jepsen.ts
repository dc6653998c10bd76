/**
 * One Jepsen-style run: a cluster, the register workload, the nemesis for `durationMs`, then heal,
 * final reads through every member, the linearizability check of the whole history, and the
 * convergence check. Shared by the fault tests (short) and scripts/soak.ts (long).
 *
 * Indeterminate writes whose value no key ever held (read back from the converged store) are left out
 * of the checked history: they never took effect, and each one left in multiplies the search.
 * The seed decides the workload's and the nemesis's choices; `replay` says how to run it again.
 */
import { seededRandom } from '../../../src/base/index.ts';
import { type CheckResult, checkLinearizable, type KvInput, kvModel, type KvOutput } from '../linearizability/index.ts';
import type { Cluster } from './cluster.ts';
import { type Convergence, waitConverged } from './converge.ts';
import { type FaultKind, Nemesis } from './nemesis.ts';
import { RegisterWorkload, type WorkloadStats } from './workload.ts';

export interface JepsenOptions {
  cluster: Cluster;
  seed: number;
  durationMs: number;
  clients?: number;
  keys?: number;
  faults?: readonly FaultKind[];
  /** Quiet time between two faults: [min, max] ms (the nemesis's default otherwise). */
  quietMs?: [number, number];
  /** The nemesis takes the fault kinds in turn instead of at random. */
  faultsInTurn?: boolean;
  opTimeoutMs?: number;
  thinkMsMax?: number;
  log?: (line: string) => void;
}

export interface JepsenResult {
  seed: number;
  operations: number;
  stats: WorkloadStats;
  nemesis: string[];
  check: CheckResult<KvInput, KvOutput>;
  /** Per key, the value each live member returned at the end. */
  finalValues: Map<string, (string | null)[]>;
  convergence: Convergence;
  /** Values read at the end, or held by a key at some revision, that no write or CAS in the history wrote (must be empty). */
  phantomValues: string[];
  /** Acknowledged writes and successful CASes whose value no key ever held (must be empty). */
  lostWrites: string[];
}

export async function runJepsen(options: JepsenOptions): Promise<JepsenResult> {
  const { cluster, seed } = options;
  const prefix = `jepsen/${seed}/`;
  const workload = new RegisterWorkload({
    cluster, random: seededRandom(seed), clients: options.clients ?? 2 * cluster.size, keys: options.keys ?? 4, prefix,
    opTimeoutMs: options.opTimeoutMs ?? 3_000, thinkMsMax: options.thinkMsMax ?? 20,
  });
  const nemesis = new Nemesis({
    cluster, random: seededRandom(seed ^ 0x5eed), ...(options.faults ? { faults: options.faults } : {}),
    ...(options.quietMs ? { quietMs: options.quietMs } : {}), ...(options.faultsInTurn ? { inTurn: true } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  workload.start();
  nemesis.start();
  await new Promise((resolve) => setTimeout(resolve, options.durationMs));
  await nemesis.stop();
  await workload.stop();

  const finalValues = await workload.finalReads(cluster);
  const written = new Set(workload.history.flatMap((op) => (op.input.kind === 'read' ? [] : [op.input.value])));
  const convergence = await waitConverged(cluster, prefix);
  const applied = await workload.writtenValues(cluster, cluster.live()[0]!);
  const phantomValues = [...new Set([...finalValues.values()].flat().concat([...applied]))]
    .filter((v): v is string => v !== null && !written.has(v));
  const lostWrites = workload.history.flatMap((op) => {
    const acknowledged = op.return !== Infinity && (op.output?.kind === 'write' || (op.output?.kind === 'cas' && op.output.ok));
    return acknowledged && op.input.kind !== 'read' && !applied.has(op.input.value) ? [op.input.value] : [];
  });
  const history = workload.history.filter((op) => op.return !== Infinity || op.input.kind === 'read' || applied.has(op.input.value));
  const check = checkLinearizable(kvModel, history);
  return {
    seed, operations: workload.history.length, stats: workload.stats, nemesis: nemesis.events, check, finalValues, convergence, phantomValues, lostWrites,
  };
}

/** A readable account of a failed check: the failing key's operations around where the search stopped. */
export function describeFailure(result: JepsenResult): string {
  const failure = result.check.failure;
  if (failure === undefined) return `verdict ${result.check.verdict}`;
  const describe = (op: (typeof failure.ops)[number]): string => (kvModel.describe ? kvModel.describe(op) : JSON.stringify(op));
  const linearized = failure.longestLinearized;
  const lines = [
    `verdict ${result.check.verdict} on partition ${failure.partition} (${failure.ops.length} ops); longest linearized prefix ${linearized.length}:`,
    ...linearized.slice(-10).map((op) => `  ok  ${describe(op)}`),
    'operations not linearized (first 20 by call time):',
    ...failure.ops.filter((op) => !linearized.includes(op)).slice(0, 20).map((op) => `  ?   ${describe(op)}`),
    'nemesis:', ...result.nemesis.map((e) => `  ${e}`),
  ];
  return lines.join('\n');
}
