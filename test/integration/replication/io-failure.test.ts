/**
 * A failed write or sync of the WAL or the store stops the replica, whichever path wrote: after it the
 * page cache may hold what the disk never gets, so the member must not go on (fail-stop).
 * - A re-seal after a DEK rotation writes to the WAL too (it rolls the tail segment); its failure only
 *   reached the key rotation's log, and the member went on answering reads (simulator seed 13, 3 nodes).
 * - The DEK retirement syncs the store; its failure failed the store, but the replica learned of it only
 *   at its next apply, and a snapshot install in between put a fresh store under a member that should
 *   have stopped (simulator seeds 237 and 269, 3 nodes).
 * Runs one real Replica on the power-loss disk of test/support.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { type MemberInfo, Replica } from '../../../src/replication/index.ts';
import { type InjectedError, PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';

const initialMembers: MemberInfo[] = [{ id: 1, name: 'm1', peerUrl: '', clientUrl: '', learner: false, removed: false }];
const encoder = new TextEncoder();

async function singleMember(fault: (op: 'write' | 'datasync', file: string) => InjectedError | undefined) {
  const process = processOn(new PowerLossDisk(), 1, fault);
  const keyring = await openKeyring({ dir: '/m1', kek: keyContentKek(new Uint8Array(32).fill(5), 'test KEK'), fs: process.fs });
  let fatal: Error | undefined;
  const replica = await Replica.open({
    dataDir: '/m1', memberId: 1, memberName: 'm1', sealer: keyring, clock: process.clock, random: seededRandom(1), fs: process.fs,
    openLevel: (dir) => new PowerLossLevel(process.fs, dir), send: () => undefined, initialMembers, tickMs: 2,
    onFatal: (error) => {
      fatal = error;
    },
  });
  while (replica.status().leader !== 1) await new Promise((resolve) => setTimeout(resolve, 2));
  await replica.propose({ type: 'put', key: encoder.encode('a'), value: encoder.encode('1') });
  return { replica, keyring, fatal: () => fatal, kill: () => process.kill() };
}

test('a WAL write failing during a re-seal stops the replica', { timeout: 30_000 }, async () => {
  let failWalWrites = false;
  const member = await singleMember((op, file) => (failWalWrites && op === 'write' && /\/wal\/wal-.*\.log$/.test(file) ? 'EIO' : undefined));
  try {
    await member.keyring.rotateDek();
    failWalWrites = true;
    await assert.rejects(member.replica.resealWal());
    assert.equal(member.replica.isServing(), false, 'the replica stopped');
    assert.ok(member.fatal() !== undefined, 'and said why');
    await assert.rejects(member.replica.range(encoder.encode('a'), undefined, { linearizable: false }));
  } finally {
    member.kill();
  }
});

test('a store sync failing outside the Ready loop stops the replica at once', { timeout: 30_000 }, async () => {
  let failStoreSync = false;
  const member = await singleMember((op, file) => (failStoreSync && op === 'datasync' && file.endsWith('/mvcc/LOG') ? 'EIO' : undefined));
  try {
    failStoreSync = true;
    await assert.rejects(member.replica.mvcc().syncToDisk());
    assert.equal(member.replica.isServing(), false, 'the replica stopped');
    assert.ok(member.fatal() !== undefined, 'and said why');
  } finally {
    member.kill();
  }
});
