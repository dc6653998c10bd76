// Teeth of the replica host: each durability hole the production member must not have, put back behind
// a --bug switch (replica/bugs.ts), is caught within a bounded number of seeds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaBugName } from './replica/bugs.ts';
import { sweepReplica } from './replica/sweep.ts';

async function caught(bug: ReplicaBugName, seedsMax: number, kinds: string[]): Promise<void> {
  const summary = await sweepReplica({ seeds: Array.from({ length: seedsMax }, (_, i) => 1 + i), sizes: [3, 5], bug, stopAtFirst: true });
  const result = summary.failures[0];
  assert.ok(result?.violation, `no violation in ${summary.runs} seeds`);
  assert.ok(kinds.includes(result.violation.kind), `caught as ${result.violation.kind}: ${result.violation.message}`);
  console.log(`${bug}: caught at seed ${result.seed} (${result.nodes} nodes, run ${summary.runs} of at most ${seedsMax}) as ${result.violation.kind}: ${result.violation.message.split('\n')[0]}`);
}

// What a lost write, a lost rename or a stale membership turns into.
const durabilityKinds = ['member refused to start', 'acknowledged write lost', 'linearizability', 'stores differ', 'membership diverged', 'member stopped on an error'];

test('renames without a directory fsync are caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('renameWithoutDirSync', 10, durabilityKinds);
});

test('acknowledging before the WAL fdatasync is caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('ackBeforeWalSync', 10, [...durabilityKinds, 'acknowledged entries lost', 'answered after an I/O error']);
});

// What a lost or unlinked audit record turns into: a chain that no longer verifies (at the member's next
// open or at the end), or an answered operation whose record is gone.
// A chain broken at open also makes the member write a restart record before it serves: an I/O error
// the nemesis injected into that write stops its start (seed 1 with auditRotationWithoutDirSync).
const auditKinds = ['audit chain broken', 'audit record lost', 'member refused to start'];

test('answering before the audit record is fdatasynced is caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('auditAckBeforeSync', 10, auditKinds);
});

test('an audit rotation whose new file is not made durable (no directory fsync) is caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('auditRotationWithoutDirSync', 10, auditKinds);
});

test('a write record never handed again to a log that was closed or failed when its entry was applied is caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('auditRecordsNotReplayed', 10, ['write record missing', 'audit record lost']);
});

test('restarting Raft with the WAL membership, ahead of the store, is caught within 10 seeds', { timeout: 600_000 }, async () => {
  await caught('confStateAheadOfStore', 10, ['membership diverged', 'member stopped on an error']);
});
