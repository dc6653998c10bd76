/**
 * Runs many seeds of the replica host and sums what happened: the engine of the CLI (main.ts) and of
 * the replica host's tests. Seeds run one after another (each run owns the event loop while it runs).
 */
import { Counters } from '../counters.ts';
import type { ReplicaBugName } from './bugs.ts';
import { activities } from './crash-points.ts';
import { type ReplicaSimOptions, type ReplicaSimResult, runReplicaSimulation } from './simulation.ts';

export interface ReplicaSweepOptions {
  seeds: number[];
  /** Cluster sizes; seed i runs with sizes[i % sizes.length]. */
  sizes: number[];
  bug?: ReplicaBugName;
  extra?: Partial<ReplicaSimOptions>;
  /** Stop at the first violation (teeth tests). */
  stopAtFirst?: boolean;
  /**
   * After `seeds`, go on with the seeds that follow the last one until each of these counters has
   * fired, up to `seedsMax` runs in all: coverage that does not hang on which seeds a schedule change
   * happens to make tear a file or crash in a step.
   */
  untilFired?: { counters: readonly string[]; seedsMax: number };
  onResult?: (r: ReplicaSimResult) => void;
}

export interface ReplicaSweepSummary {
  runs: number;
  failures: ReplicaSimResult[];
  counters: Counters;
  maxLivenessMs: number;
  /** Crash points (activity: step) seen in any run, and those some crash fell at. */
  stepsSeen: Set<string>;
  crashPoints: Set<string>;
}

export async function sweepReplica(o: ReplicaSweepOptions): Promise<ReplicaSweepSummary> {
  const summary: ReplicaSweepSummary = {
    runs: 0, failures: [], counters: new Counters(), maxLivenessMs: 0, stepsSeen: new Set(), crashPoints: new Set(),
  };
  const unfired = () => (o.untilFired?.counters ?? []).filter((c) => summary.counters.get(c) === 0);
  const seedAt = (i: number): number | undefined => {
    if (i < o.seeds.length) return o.seeds[i];
    const more = o.untilFired !== undefined && i < o.untilFired.seedsMax && unfired().length > 0;
    return more ? o.seeds.at(-1)! + (i - o.seeds.length) + 1 : undefined;
  };
  for (let i = 0, seed = seedAt(0); seed !== undefined; seed = seedAt(++i)) {
    const nodes = o.sizes[i % o.sizes.length]!;
    const r = await runReplicaSimulation({ ...o.extra, seed, nodes, ...(o.bug ? { bugs: { [o.bug]: true } } : {}) });
    summary.runs++;
    summary.counters.addAll(r.counters);
    summary.maxLivenessMs = Math.max(summary.maxLivenessMs, r.livenessMs ?? 0);
    for (const s of r.stepsSeen) summary.stepsSeen.add(s);
    for (const s of r.crashPoints) summary.crashPoints.add(s);
    o.onResult?.(r);
    if (r.violation) {
      summary.failures.push(r);
      if (o.stopAtFirst) break;
    }
  }
  return summary;
}

/** The exact command that replays one run of the replica host. */
export function replicaReplayCommand(r: ReplicaSimResult, bug?: ReplicaBugName): string {
  return `npm run sim -- --host replica --seed ${r.seed} --nodes ${r.nodes}${bug ? ` --bug ${bug}` : ''} --trace`;
}

/** Per activity: distinct crash points seen and crashed at, e.g. "snapshotInstall 9/11". */
export function crashCoverage(summary: Pick<ReplicaSweepSummary, 'stepsSeen' | 'crashPoints'>): string {
  return activities.map((activity) => {
    const seen = [...summary.stepsSeen].filter((p) => p.startsWith(`${activity}:`));
    const crashed = seen.filter((p) => summary.crashPoints.has(p));
    return `${activity} ${crashed.length}/${seen.length}`;
  }).join(' ');
}

/** Fault kinds every replica-host sweep of the test suite must see fire. */
export const requiredReplicaFaults = [
  'crashes:power', 'crashes:process', 'fault:stop', 'store:openedFromCheckpoint', 'fault:restart', 'fault:partition', 'fault:isolateLeader', 'fault:partitionOneWay',
  'fault:addLearner', 'fault:promote', 'fault:removeNode', 'fault:transferLeader', 'fault:rotateDek', 'fault:rotateKek',
  'fault:compact', 'failStops', 'disk:fileOpsLost', 'disk:writesTorn', 'disk:dirOpsLost', 'messagesDropped', 'messagesReordered',
  'snapshotsInstalled', 'keysRetired', 'diskErrors:ENOSPC', 'diskErrors:EIO',
  'audit:filesRemovedByRetention', 'audit:tornTailsCut', 'audit:sinkFailed', 'audit:sinkRecovered', 'opsRefusedByAudit', 'audit:chainsVerified',
  ...activities.filter((a) => a !== 'steady').map((a) => `fault:crashDuring:${a}`),
];
