/**
 * test/sim — the deterministic cluster simulator, with two hosts. One seed is one run; the same seed and
 * options replay the same run exactly (one seeded Random, simulated time, no real I/O).
 *
 * - The replica host (replica/, the default of `npm run sim`): the production member — Replica, Wal,
 *   MvccStore, Keyring, MemberKeys, AuditLog — over simulated disks with power-loss semantics and
 *   memory-level (test/support/power-loss), through the seams those classes take (clock, scheduling,
 *   file system, store engine). Faults: power cuts and kills at any await, armed crashes at each step of
 *   a snapshot install, DEK rotation, KEK rotation, WAL re-seal, compaction, audit append, rotation,
 *   retention and sink recovery, ENOSPC and EIO, partitions, membership changes, leadership moves.
 *   Checks: every member starts after every crash, fail-stop after an I/O error, no acknowledged write
 *   lost, linearizability, equal HashKV after healing, membership as of each applied index, the audit
 *   chain verifies on every member and holds every answered operation's record. Deliberate durability
 *   bugs: replica/bugs.ts.
 * - The model host (cluster.ts, node.ts, disk.ts, kv.ts): the Raft core behind a host of the
 *   simulator's own that honours the Ready contract, with a journal disk and a tiny state machine —
 *   much faster, and checked for Raft's safety at every Ready (one vote per term, terms durable before
 *   promised, log matching, leader completeness). Deliberate host bugs: host-bugs.ts; core bugs through
 *   raft's UnsafeTestingFaults. It stays because it reaches the core's protocol invariants directly and
 *   runs tens of thousands of seeds where the replica host runs thousands.
 * Shared: the event queue, the network (network.ts), the linearizability checker (test/support).
 *
 * Entry points: main.ts (the CLI, `npm run sim`), the *.test.ts files beside it.
 */
export { type SimOptions, type SimResult, runSimulation, tickUnits } from './cluster.ts';
export { type HostBugName, type HostBugs, hostBugNames } from './host-bugs.ts';
export { type SweepOptions, type SweepSummary, replayCommand, requiredFaults, sweep } from './sweep.ts';
export { type ReplicaBugName, type ReplicaBugs, replicaBugNames } from './replica/bugs.ts';
export { type ReplicaSimOptions, type ReplicaSimResult, runReplicaSimulation } from './replica/simulation.ts';
export { crashCoverage, type ReplicaSweepOptions, type ReplicaSweepSummary, replicaReplayCommand, requiredReplicaFaults, sweepReplica } from './replica/sweep.ts';
export type { RunResult } from './result.ts';
