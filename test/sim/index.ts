/**
 * test/sim — the deterministic cluster simulator for the Raft core. One seed is one run: a cluster of
 * RawNodes behind hosts that honour the Ready contract (node.ts), simulated disks that lose unsynced
 * writes on a crash (disk.ts), a network that drops, delays, reorders, duplicates and partitions
 * (network.ts), clients doing read / write / compare-and-set through proposals and ReadIndex
 * (clients.ts), and a nemesis that crashes, pauses, partitions, changes membership and moves
 * leadership (nemesis.ts) — all on one event queue over simulated time (event-queue.ts).
 *
 * Invariants: no real time, no real I/O, one seeded Random; the same seed and options replay the same
 * run exactly. Every run is checked online for Raft's safety properties (invariants.ts), at the end for
 * lost acknowledged writes and for linearizability of the client history (test/support/linearizability),
 * and for liveness after healing. Deliberate host bugs (host-bugs.ts) exist only here, never in src/raft.
 *
 * Entry points: main.ts (the CLI, `npm run sim`), sweep.test.ts, teeth.test.ts, regressions.test.ts.
 */
export { type SimOptions, type SimResult, runSimulation, tickUnits } from './cluster.ts';
export { type HostBugName, type HostBugs, hostBugNames } from './host-bugs.ts';
export { type SweepOptions, type SweepSummary, replayCommand, requiredFaults, sweep } from './sweep.ts';
