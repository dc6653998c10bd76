// Seeds that once made the simulator report a failure, kept as named regression tests.
//
// No seed has found a bug in the Raft core so far. The seeds below found bugs in the simulator's own
// checkers or host while it was built; each must keep passing:
//
// - Two votes in a term (seeds 2546, 3024, 3390, 6590 with 5 nodes; 4725, 7385, 9477 with 3 nodes,
//   found by the first 10,000-seed sweep): with fsync latency a node wrote a vote, crashed before
//   the sync and before sending anything, restarted with its older vote and voted differently. That is
//   legal — the vote was never promised — but the checker compared in-memory hard states. It now
//   checks promised votes (vote requests and granted responses) and that each was durable when sent.
// - Vote sent before it was durable (seeds 347 with 3 nodes, 356 with 5 nodes, and 31 more in the
//   second 10,000-seed sweep): between two Readys a node granted a vote in term T and then moved to
//   term T+1, so the Ready made only {T+1, vote 0} durable before sending the term-T grant. Safe — a
//   node never votes in a term below its durable one — but the new check demanded the exact vote. It
//   now demands it only when the durable term is the vote's term.
// - Seed 7727 (3 nodes), third sweep: liveness. With preVote and checkQuorum off, after healing node 3
//   (log far behind, not yet aware that node 4 was promoted) could never win an election but kept
//   starting new ones; each of its vote requests made nodes 1 and 4 step down to its higher term and
//   reset their election timers (as etcd does), and its self-votes collided with node 1's candidacies
//   in the same terms. No leader for 714 ticks (bound was 200). A liveness weakness of Raft without
//   PreVote, not a safety bug; reported to the lead. The bound without PreVote is now 1000 ticks and
//   this seed must recover within it.
// - Seed 5609 (3 nodes), first sweep: the host wrote an installed snapshot and the Ready's hard state
//   as two journal records; a crash kept the snapshot and lost the hard state, leaving a disk whose
//   commit (94) is below its snapshot (96), and the core refused to restart ('stored commit 94 is
//   outside [96, 96]'). The simulated host now writes them as one atomic record (see disk.ts). The same
//   rule binds the real WAL host: see the report of issue 3.
// - Seeds 29 (3 nodes) and 70 (5 nodes): an unsynced, unpromised term lost in a crash was flagged as
//   "term went back across a restart"; the check now compares with the highest promised term.
// - Seeds 13 and 15 (3 nodes): the linearizability search needed millions of steps because timed-out
//   writes no node ever applied stayed in the history as indeterminate; they are now left out.
//
// The simulator changed after most of these were found (a new nemesis action, isolateLeader, changed
// the random stream; later seededRandom itself began spreading its seed, which changed every stream),
// so no seed above replays its exact failing run any more; they remain as runs of the same kind that
// must pass with a definite verdict. The precise checker regressions are unit tests in parts.test.ts (a
// lost unsent vote, a vote protected by a later durable term, a lost unpromised term) and the disk test
// of an installed snapshot carrying its hard state.
//
// Seed 3173 (3 nodes, PreVote off) pins the current random stream: it is the slowest recovery after
// healing among seeds 1..5000 (180 ticks; a leader commits within the 1000-tick bound without
// PreVote), and the test demands exactly that figure, so any change to the simulator's randomness or
// scheduling shows up here first. Re-derive it (sweep seeds, take the slowest) when that is intended;
// it was last re-derived when followers stopped answering commit notices (seed 1077, 189.5 ticks, before).
//
// The replica host (the production member over power-loss disks) found, while it was built: Raft
// restarting with a membership ahead of the store; a DEK retired before the pages re-sealed off it
// were durable; a zeroed sector in the WAL's unsynced tail refused as corruption; a store serving on
// after its fsync failed; the audit log trusting, at open, records a killed process wrote and never
// synced, then going on in a new file, so a power cut left a torn file before the newest (seed 223 of
// a 300-seed sweep, 3 nodes). Each has a focused regression test (test/integration/replication/
// membership-power-loss, test/integration/keys/retire-power-loss, test/unit/wal/wal-recovery,
// test/unit/mvcc/failed-sync, test/integration/audit/power-loss); its seeds stopped replaying those
// runs as the host grew, so they are not kept here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation } from './cluster.ts';

/** `livenessTicks`: the exact recovery time the run must reproduce (it replays the failing run). */
const regressions: { name: string; seed: number; nodes: number; livenessTicks?: number }[] = [
  ...[2546, 3024, 3390, 6590].map((seed) => ({ name: `seed ${seed}, 5 nodes (once flagged a lost, unsent vote as a double vote) passes every check`, seed, nodes: 5 })),
  ...[4725, 7385, 9477].map((seed) => ({ name: `seed ${seed}, 3 nodes (once flagged a lost, unsent vote as a double vote) passes every check`, seed, nodes: 3 })),
  { name: 'seed 347, 3 nodes (once flagged a vote protected by a later durable term) passes every check', seed: 347, nodes: 3 },
  { name: 'seed 356, 5 nodes (once flagged a vote protected by a later durable term) passes every check', seed: 356, nodes: 5 },
  { name: 'seed 7727, 3 nodes (once a 714-tick stall without PreVote) passes every check', seed: 7727, nodes: 3 },
  { name: 'seed 3173, 3 nodes: replays exactly its 180-tick recovery without PreVote', seed: 3173, nodes: 3, livenessTicks: 180 },
  { name: 'seed 5609, 3 nodes (once tore an installed snapshot from its commit) passes every check', seed: 5609, nodes: 3 },
  { name: 'seed 29, 3 nodes (once flagged a lost, unpromised term) passes every check', seed: 29, nodes: 3 },
  { name: 'seed 70, 5 nodes (once flagged a lost, unpromised term) passes every check', seed: 70, nodes: 5 },
  { name: 'seed 13, 3 nodes (once a multi-million-step search) passes with a definite verdict', seed: 13, nodes: 3 },
  { name: 'seed 15, 3 nodes (once a multi-million-step search) passes with a definite verdict', seed: 15, nodes: 3 },
];

for (const r of regressions) {
  test(r.name, () => {
    const result = runSimulation({ seed: r.seed, nodes: r.nodes });
    assert.equal(result.violation, undefined, result.violation?.message);
    assert.equal(result.counters.get('linearizabilityUnknown'), 0);
    if (r.livenessTicks !== undefined) assert.equal(result.livenessTicks, r.livenessTicks);
  });
}
