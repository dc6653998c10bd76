/**
 * Runs many seeds of the model host and sums what happened: the shared engine of the CLI (main.ts) and
 * the model host's sweep test.
 */
import { Counters } from './counters.ts';
import { type SimOptions, type SimResult, runSimulation } from './cluster.ts';
import type { HostBugName } from './host-bugs.ts';

export interface SweepOptions {
  seeds: number[];
  /** Cluster sizes; seed i runs with sizes[i % sizes.length]. */
  sizes: number[];
  bug?: HostBugName;
  extra?: Partial<SimOptions>;
  /** Stop at the first violation (for teeth tests). */
  stopAtFirst?: boolean;
  onResult?: (r: SimResult) => void;
}

export interface SweepSummary {
  runs: number;
  failures: SimResult[];
  counters: Counters;
  maxLivenessTicks: number;
}

export function sweep(o: SweepOptions): SweepSummary {
  const counters = new Counters();
  const failures: SimResult[] = [];
  let maxLivenessTicks = 0;
  let runs = 0;
  for (const [i, seed] of o.seeds.entries()) {
    const nodes = o.sizes[i % o.sizes.length] as number;
    const r = runSimulation({ ...o.extra, seed, nodes, ...(o.bug ? { bugs: { [o.bug]: true } } : {}) });
    runs++;
    counters.addAll(r.counters);
    maxLivenessTicks = Math.max(maxLivenessTicks, r.livenessTicks ?? 0);
    o.onResult?.(r);
    if (r.violation) {
      failures.push(r);
      if (o.stopAtFirst) break;
    }
  }
  return { runs, failures, counters, maxLivenessTicks };
}

/** The exact command that replays one run. */
export function replayCommand(r: SimResult, bug?: HostBugName): string {
  return `npm run sim -- --host model --seed ${r.seed} --nodes ${r.nodes}${bug ? ` --bug ${bug}` : ''} --trace`;
}

/** Fault kinds every sweep must see fire (the nemesis's actions and the network's and disk's faults). */
export const requiredFaults = [
  'fault:crash', 'fault:crashLeader', 'fault:pause', 'fault:restart', 'fault:partition', 'fault:isolateLeader', 'fault:partitionOneWay', 'fault:partitionBridge', 'fault:heal',
  'fault:addLearner', 'fault:promote', 'fault:removeNode', 'fault:transferLeader',
  'applied:addLearner', 'applied:promote', 'applied:removeNode',
  'messagesDropped', 'messagesDuplicated', 'messagesReordered', 'messagesCut', 'unsyncedRecordsLost',
  'snapshotsTaken', 'snapshotsInstalled',
];
