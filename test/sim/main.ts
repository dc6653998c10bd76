/**
 * The simulator's command line (npm run sim):
 *   node --import tsx test/sim/main.ts --seeds N [--start S] [--nodes 3|5]   sweep seeds S..S+N-1
 *   node --import tsx test/sim/main.ts --seed S [--nodes N] [--trace]        replay one seed
 *   [--bug sendBeforeSync|ackOnPropose|localFollowerReads]                   switch on a host bug
 * Without --nodes, seeds alternate between 3 and 5 nodes. Prints each failure with the command that
 * replays it, then `N seeds, V violations` and the counters summed over all runs. Exit status 1 if any
 * run violated a check.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { type HostBugName, hostBugNames } from './host-bugs.ts';
import { replayCommand, requiredFaults, sweep } from './sweep.ts';

const { values } = parseArgs({
  options: {
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

const bug = values.bug as HostBugName | undefined;
if (bug !== undefined && !hostBugNames.includes(bug)) {
  throw new RangeError(`--bug ${bug} is not one of ${hostBugNames.join(', ')}`);
}
const sizes = values.nodes !== undefined ? [integer('nodes', values.nodes)] : [3, 5];
let seeds: number[];
if (values.seed !== undefined) {
  const seed = integer('seed', values.seed);
  seeds = [seed];
  if (values.nodes === undefined) sizes.splice(0, sizes.length, 3);
} else {
  const count = integer('seeds', values.seeds ?? '100');
  const start = integer('start', values.start);
  seeds = Array.from({ length: count }, (_, i) => start + i);
}

const began = performance.now();
const summary = sweep({
  seeds,
  sizes,
  ...(bug ? { bug } : {}),
  extra: values.trace ? { trace: (line: string) => console.log(line) } : {},
  onResult: (r) => {
    if (!r.violation) return;
    console.log(`FAIL seed ${r.seed} (${r.nodes} nodes): ${r.violation.message}`);
    console.log(`  replay: ${replayCommand(r, bug)}`);
  },
});
const seconds = (performance.now() - began) / 1000;
const c = summary.counters;
console.log(`${summary.runs} seeds, ${summary.failures.length} violations (${seconds.toFixed(1)} s)`);
console.log(`ops=${c.get('ops')} done=${c.get('opsDone')} timedOut=${c.get('opsTimedOut')} dropped=${c.get('opsDropped')} ` +
  `historyOps=${c.get('historyOps')} linearizabilityUnknown=${c.get('linearizabilityUnknown')} maxLivenessTicks=${summary.maxLivenessTicks}`);
console.log(`faults: ${requiredFaults.map((f) => `${f}=${c.get(f)}`).join(' ')}`);
if (values.trace) console.log(`all counters: ${c.format()}`);
process.exitCode = summary.failures.length > 0 ? 1 : 0;
