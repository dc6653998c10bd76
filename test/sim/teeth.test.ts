// Teeth: with a deliberate bug switched on, the simulator must catch it within a bounded number of
// seeds. The bugs live in the simulated host (host-bugs.ts), never in src/raft.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SimOptions, type SimResult, runSimulation } from './cluster.ts';
import type { HostBugName } from './host-bugs.ts';
import { sweep } from './sweep.ts';

function firstFailure(bug: HostBugName, seedsMax: number, extra: Partial<SimOptions> = {}): { result?: SimResult; runs: number } {
  const summary = sweep({ seeds: Array.from({ length: seedsMax }, (_, i) => 1 + i), sizes: [3, 5], bug, extra, stopAtFirst: true });
  const result = summary.failures[0];
  return result ? { result, runs: summary.runs } : { runs: summary.runs };
}

function caught(bug: HostBugName, seedsMax: number, kinds: string[], extra: Partial<SimOptions> = {}): void {
  const { result, runs } = firstFailure(bug, seedsMax, extra);
  assert.ok(result?.violation, `no violation in ${runs} seeds`);
  assert.ok(kinds.includes(result.violation.kind), `caught as ${result.violation.kind}: ${result.violation.message}`);
  console.log(`${bug}: caught at seed ${result.seed} (${result.nodes} nodes, run ${runs} of at most ${seedsMax}) as ${result.violation.kind}`);
}

// Consequences of forgotten votes and acknowledgements: two leaders, or committed writes lost.
const deepKinds = ['two leaders in a term', 'committed entry changed', 'log matching', 'state machine safety',
  'state machine divergence', 'acknowledged write lost', 'linearizability'];

test('a host that sends messagesAfterPersist before syncing is caught within 10 seeds', () => {
  caught('sendBeforeSync', 10, ['term sent before it was durable', 'vote sent before it was durable', 'two votes in a term', 'term went back across a restart', ...deepKinds]);
});

/**
 * Seeds within which acknowledgements sent before their sync must cost committed data. Since a follower
 * no longer answers commit notices it sends fewer acknowledgements, and the bug shows later: the first
 * seed to show it moved from 39 to 209 (seeds 1..400 then showed it at 209, 253, 277 and 340).
 */
const earlyAckSeedsMax = 300;

test(`with the direct durability checks off, that host loses committed writes within ${earlyAckSeedsMax} seeds`, () => {
  // Runs stopped earlier by the core's own assertion (a leader's commit index beyond a follower's
  // log: the follower lost entries it had acknowledged) are counted and passed over, so the test shows
  // the bug reaching the checkers of committed data, not only the core's self-check.
  let coreAssertions = 0;
  for (let seed = 1; seed <= earlyAckSeedsMax; seed++) {
    const r = runSimulation({ seed, nodes: seed % 2 === 1 ? 3 : 5, bugs: { sendBeforeSync: true }, directDurabilityChecks: false });
    if (!r.violation) continue;
    if (r.violation.kind === 'exception') {
      coreAssertions++;
      continue;
    }
    assert.ok(deepKinds.includes(r.violation.kind), `caught as ${r.violation.kind}: ${r.violation.message}`);
    console.log(`sendBeforeSync without direct checks: seed ${seed} (${r.nodes} nodes) as ${r.violation.kind}; core assertions in earlier seeds: ${coreAssertions}`);
    return;
  }
  assert.fail(`no committed data lost in ${earlyAckSeedsMax} seeds (core assertions: ${coreAssertions})`);
});

test('a host that acknowledges writes when proposed instead of when applied is caught within 10 seeds', () => {
  caught('ackOnPropose', 10, ['linearizability', 'acknowledged write lost']);
});

test('a host that serves reads locally on followers without ReadIndex is caught within 10 seeds', () => {
  caught('localFollowerReads', 10, ['linearizability']);
});
