/**
 * The simulator's command line (npm run sim):
 *   node --import tsx test/sim/main.ts [--host replica|model] --seeds N [--start S] [--nodes 3|5]   sweep S..S+N-1
 *   node --import tsx test/sim/main.ts [--host replica|model] --seed S [--nodes N] [--trace]          replay one seed
 *   [--bug NAME]   switch on a deliberate bug of the chosen host (its names are listed on a bad --bug)
 * --host replica (the default) runs the production member (Replica, Wal, MvccStore, Keyring, AuditLog,
 * MemberKeys) over power-loss disks; --host model runs the Raft core behind the simulator's own host,
 * much faster, with Raft's safety checked at every Ready. Without --nodes, seeds alternate between 3
 * and 5 nodes. Prints each failure with the command that replays it, the counters summed over all runs,
 * and last `N seeds, V violations`. Exit status 1 if any run violated a check.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { type HostBugName, hostBugNames } from './host-bugs.ts';
import { type ReplicaBugName, replicaBugNames } from './replica/bugs.ts';
import { crashCoverage, replicaReplayCommand, requiredReplicaFaults, sweepReplica } from './replica/sweep.ts';
import { replayCommand, requiredFaults, sweep } from './sweep.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: 'replica' },
    seeds: { type: 'string' },
    start: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    bug: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
  strict: true,
});

function integer(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`--${name} ${text} is not an integer`);
  return n;
}

const host = values.host;
if (host !== 'replica' && host !== 'model') throw new RangeError(`--host ${host} is not replica or model`);
const bugNames: readonly string[] = host === 'replica' ? replicaBugNames : hostBugNames;
if (values.bug !== undefined && !bugNames.includes(values.bug)) {
  throw new RangeError(`--bug ${values.bug} is not one of ${bugNames.join(', ')} (--host ${host})`);
}
const sizes = values.nodes !== undefined ? [integer('nodes', values.nodes)] : [3, 5];
let seeds: number[];
if (values.seed !== undefined) {
  seeds = [integer('seed', values.seed)];
  if (values.nodes === undefined) sizes.splice(0, sizes.length, 3);
} else {
  const count = integer('seeds', values.seeds ?? '100');
  const start = integer('start', values.start);
  seeds = Array.from({ length: count }, (_, i) => start + i);
}
const trace = values.trace ? { trace: (line: string) => console.log(line) } : {};

const began = performance.now();
let runs: number;
let violations: number;
if (host === 'replica') {
  const bug = values.bug as ReplicaBugName | undefined;
  const summary = await sweepReplica({
    seeds, sizes, ...(bug ? { bug } : {}), extra: trace,
    onResult: (r) => {
      if (!r.violation) return;
      console.log(`FAIL seed ${r.seed} (${r.nodes} nodes): ${r.violation.message}`);
      console.log(`  replay: ${replicaReplayCommand(r, bug)}`);
    },
  });
  const c = summary.counters;
  console.log(`ops=${c.get('ops')} done=${c.get('opsDone')} timedOut=${c.get('opsTimedOut')} failed=${c.get('opsFailed')} dropped=${c.get('opsDropped')} ` +
    `historyOps=${c.get('historyOps')} linearizabilityUnknown=${c.get('linearizabilityUnknown')} maxLivenessMs=${summary.maxLivenessMs}`);
  console.log(`faults: ${requiredReplicaFaults.map((f) => `${f}=${c.get(f)}`).join(' ')}`);
  console.log(`crash points crashed at / seen, by activity: ${crashCoverage(summary)}`);
  if (values.trace) console.log(`all counters: ${c.format()}`);
  runs = summary.runs;
  violations = summary.failures.length;
} else {
  const bug = values.bug as HostBugName | undefined;
  const summary = sweep({
    seeds, sizes, ...(bug ? { bug } : {}), extra: trace,
    onResult: (r) => {
      if (!r.violation) return;
      console.log(`FAIL seed ${r.seed} (${r.nodes} nodes): ${r.violation.message}`);
      console.log(`  replay: ${replayCommand(r, bug)}`);
    },
  });
  const c = summary.counters;
  console.log(`ops=${c.get('ops')} done=${c.get('opsDone')} timedOut=${c.get('opsTimedOut')} dropped=${c.get('opsDropped')} ` +
    `historyOps=${c.get('historyOps')} linearizabilityUnknown=${c.get('linearizabilityUnknown')} maxLivenessTicks=${summary.maxLivenessTicks}`);
  console.log(`faults: ${requiredFaults.map((f) => `${f}=${c.get(f)}`).join(' ')}`);
  if (values.trace) console.log(`all counters: ${c.format()}`);
  runs = summary.runs;
  violations = summary.failures.length;
}
const seconds = (performance.now() - began) / 1000;
console.log(`(${seconds.toFixed(1)} s)`);
console.log(`${runs} seeds, ${violations} violations`);
process.exitCode = violations > 0 ? 1 : 0;
