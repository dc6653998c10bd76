/**
 * One Jepsen-style run: a cluster, the register workload, the nemesis for `durationMs`, then heal,
 * final reads through every member, the linearizability check of the whole history, and the
 * convergence check. Shared by the fault test (short) and scripts/soak.ts (long).
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
  /** Values read at the end that no write or CAS in the history ever wrote (must be empty). */
  phantomValues: string[];
}

export async function runJepsen(options: JepsenOptions): Promise<JepsenResult> {
  const { cluster, seed } = options;
  const prefix = `jepsen/${seed}/`;
  const workload = new RegisterWorkload({
    cluster, random: seededRandom(seed), clients: options.clients ?? 2 * cluster.size, keys: options.keys ?? 4, prefix,
    opTimeoutMs: options.opTimeoutMs ?? 3_000, thinkMsMax: options.thinkMsMax ?? 20,
  });
  const nemesis = new Nemesis({ cluster, random: seededRandom(seed ^ 0x5eed), ...(options.faults ? { faults: options.faults } : {}), ...(options.log ? { log: options.log } : {}) });
  workload.start();
  nemesis.start();
  await new Promise((resolve) => setTimeout(resolve, options.durationMs));
  await nemesis.stop();
  await workload.stop();

  const finalValues = await workload.finalReads(cluster);
  const written = new Set(workload.history.flatMap((op) => (op.input.kind === 'read' ? [] : [op.input.value])));
  const phantomValues = [...finalValues.values()].flat().filter((v): v is string => v !== null && !written.has(v));
  const check = checkLinearizable(kvModel, workload.history);
  const convergence = await waitConverged(cluster, prefix);
  return {
    seed, operations: workload.history.length, stats: workload.stats, nemesis: nemesis.events, check, finalValues, convergence, phantomValues,
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
