/**
 * Raft restarts with the membership as of the store's applied index. The store writes its batches
 * without an fsync while the WAL is fsynced, so after a power cut the WAL may have recorded a
 * membership the store never reached; restarting Raft with that one made it replay conf changes onto
 * a later membership (the hole the simulator's replica host found at its first seeds: "membership
 * diverged … (open)"). Now the membership comes from the member table, written in the same store batch
 * as the applied index. With the old behaviour switched back on (unsafeTestingFaults), the same power
 * cuts show the divergence, so this test can fail.
 * Runs one real Replica (WAL, store, keyring) on the power-loss disk of test/support.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { type ConfState, emptyConfState } from '../../../src/raft/index.ts';
import { type MemberInfo, type MembershipEvent, Replica, type ReplicaTestingFaults, sameMembership } from '../../../src/replication/index.ts';
import { PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';

const kek = new Uint8Array(32).fill(9);
const initialMembers: MemberInfo[] = [{ id: 1, name: 'm1', peerUrl: 'mem://m1', clientUrl: '', learner: false, removed: false }];

async function start(disk: PowerLossDisk, seed: number, faults: ReplicaTestingFaults, onMembership: (e: MembershipEvent) => void, lead: boolean) {
  const process = processOn(disk, seed);
  const keyring = await openKeyring({ dir: '/m1', kek: keyContentKek(kek, 'test KEK'), fs: process.fs });
  const replica = await Replica.open({
    dataDir: '/m1', memberId: 1, memberName: 'm1', sealer: keyring, clock: process.clock, random: seededRandom(seed), fs: process.fs,
    openLevel: (dir) => new PowerLossLevel(process.fs, dir), send: () => undefined, initialMembers, tickMs: 2,
    unsafeTestingFaults: faults, observer: { membership: onMembership },
  });
  // A single voter elects itself after its election timeout.
  while (lead && replica.status().leader !== 1) await new Promise((resolve) => setTimeout(resolve, 2));
  return { replica, kill: () => process.kill() };
}

/** Power cuts after membership changes; returns the opens whose membership was not the one at their index. */
async function divergedOpens(faults: ReplicaTestingFaults): Promise<string[]> {
  const diverged: string[] = [];
  for (let seed = 1; seed <= 8; seed++) {
    const disk = new PowerLossDisk();
    const history: { index: number; confState: ConfState }[] = [];
    const first = await start(disk, seed, faults, (e) => {
      if (e.cause === 'confChange') history.push({ index: e.index, confState: e.confState });
    }, true);
    await first.replica.propose({ type: 'put', key: new TextEncoder().encode('a'), value: new TextEncoder().encode('1') });
    for (let n = 2; n <= 4; n++) await first.replica.addMember({ name: `m${n}`, peerUrl: `mem://m${n}`, clientUrl: '', learner: true });
    first.kill();
    disk.powerLoss(seededRandom(seed));
    let opened: MembershipEvent | undefined;
    const second = await start(disk, seed, faults, (e) => {
      if (e.cause === 'open') opened = e;
    }, false);
    assert.ok(opened !== undefined);
    const expected = history.filter((h) => h.index <= opened!.index).at(-1)?.confState ?? emptyConfState();
    if (!sameMembership(expected, opened.confState)) {
      diverged.push(`seed ${seed}: open at index ${opened.index} with ${JSON.stringify(opened.confState)}, expected ${JSON.stringify(expected)}`);
    }
    await second.replica.close();
  }
  return diverged;
}

test('after power cuts, Raft restarts with the membership as of the store applied index', { timeout: 60_000 }, async () => {
  assert.deepEqual(await divergedOpens({}), []);
});

test('with the membership taken from the WAL (the old behaviour), the same power cuts restart Raft ahead of the store', { timeout: 60_000 }, async () => {
  assert.notDeepEqual(await divergedOpens({ confStateAheadOfStore: true }), []);
});
