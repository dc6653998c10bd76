// A short sweep of the deterministic cluster simulator: 3- and 5-node clusters under every kind of
// fault; every run must pass every check, every fault type must fire, and a seed must replay exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation } from './cluster.ts';
import { replayCommand, requiredFaults, sweep } from './sweep.ts';

const seedsPerSize = 60;

for (const nodes of [3, 5]) {
  test(`${seedsPerSize} seeds of a ${nodes}-node cluster under faults: no violation, every fault type fires`, () => {
    const summary = sweep({ seeds: Array.from({ length: seedsPerSize }, (_, i) => 1000 * nodes + i), sizes: [nodes] });
    const failures = summary.failures.map((r) => `seed ${r.seed}: ${r.violation?.message ?? ''}\n  replay: ${replayCommand(r)}`);
    assert.deepEqual(failures, []);
    const missing = requiredFaults.filter((f) => summary.counters.get(f) === 0);
    assert.deepEqual(missing, [], `fault types that never fired: ${missing.join(', ')}`);
    assert.ok(summary.counters.get('opsDone') > 0, 'clients completed operations');
    console.log(`${nodes} nodes: ${summary.runs} seeds, 0 violations; ${summary.counters.format()}`);
  });
}

test('the same seed replays the same run exactly', () => {
  const trace = (seed: number): string[] => {
    const lines: string[] = [];
    const r = runSimulation({ seed, nodes: 5, trace: (l) => lines.push(l) });
    lines.push(r.counters.format());
    return lines;
  };
  const first = trace(77);
  assert.ok(first.length > 10);
  assert.deepEqual(trace(77), first);
  assert.notDeepEqual(trace(78), first);
});
