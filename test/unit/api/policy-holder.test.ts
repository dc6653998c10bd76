/**
 * The RBAC policy follows the member's store across a snapshot install. The install closes the old
 * store (its watchers end with E_CLOSED) and opens the new one a little later; the policy holder
 * re-watched at once, and watching the closed store threw out of a promise nobody awaited, which ended
 * the member (found by the real-process crash test that kills members during snapshot installs).
 * Now a re-watch that fails is tried again on the clock until the new store is there.
 * Clients holding every watcher they may (watchersMax less memberWatchersReserved) do not keep the
 * policy holder from watching: its watchers are the member's own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { PolicyHolder } from '../../../src/api/k8s/policy-holder.ts';
import { isMvccError, MvccStore, type Watcher } from '../../../src/storage/mvcc/index.ts';
import { PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';

test('after the store is replaced, the policy holder watches the new one and the process survives', async () => {
  const { fs } = processOn(new PowerLossDisk());
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(new Uint8Array(32).fill(1), 'test KEK'), fs });
  const open = (dir: string) => MvccStore.open({ dir, sealer: keyring, storeId: 'm1/mvcc', openLevel: (d) => new PowerLossLevel(fs, d) });
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    const clock = new ManualClock();
    let current = await open('/data/mvcc');
    const holder = new PolicyHolder(() => current, undefined, clock);
    await holder.start();
    const old = current;
    await old.close();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    current = await open('/data/mvcc.new');
    clock.advance(60_000);
    const role = new TextEncoder().encode('/registry/clusterroles/reader');
    await current.applyBatch(1, [{ type: 'put', key: role, value: new TextEncoder().encode('{}') }]);
    for (let i = 0; i < 1000 && holder.loadedRevision < current.currentRevision(); i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(holder.loadedRevision, current.currentRevision(), 'the change in the new store reached the policy through its watch');
    assert.deepEqual(rejections, []);
    holder.stop();
    await current.close();
  } finally {
    process.off('unhandledRejection', onRejection);
  }
});

test('clients holding every watcher they may do not keep the policy holder from watching the RBAC objects', async () => {
  const { fs } = processOn(new PowerLossDisk());
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(new Uint8Array(32).fill(1), 'test KEK'), fs });
  const store = await MvccStore.open({ dir: '/data/mvcc', sealer: keyring, storeId: 'm1/mvcc', openLevel: (d) => new PowerLossLevel(fs, d) });
  const clients: Watcher[] = [];
  try {
    for (;;) {
      try {
        clients.push(store.watch({ key: new TextEncoder().encode('app/x') }));
      } catch (error) {
        if (isMvccError(error, 'E_LIMIT')) break;
        throw error;
      }
    }
    const holder = new PolicyHolder(() => store, undefined, new ManualClock());
    await holder.start();
    await store.applyBatch(1, [{ type: 'put', key: new TextEncoder().encode('/registry/clusterroles/reader'), value: new TextEncoder().encode('{}') }]);
    for (let i = 0; i < 1000 && holder.loadedRevision < store.currentRevision(); i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(holder.loadedRevision, store.currentRevision(), 'the change reached the policy through its watch');
    holder.stop();
  } finally {
    for (const w of clients) w.cancel();
    await store.close();
  }
});
