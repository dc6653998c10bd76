/**
 * The RBAC policy follows the member's store across a snapshot install. The install closes the old
 * store (its watchers end with E_CLOSED) and opens the new one a little later; the policy holder
 * re-watched at once, and watching the closed store threw out of a promise nobody awaited, which ended
 * the member (found by the real-process crash test that kills members during snapshot installs).
 * Now a re-watch that fails is tried again on the clock until the new store is there.
 * Clients holding every watcher they may (watchersMax less memberWatchersReserved) do not keep the
 * policy holder from watching: its watchers are the member's own.
 * A change is taken in by reading only the objects that changed (until 2026-12-06 every change re-read
 * and recompiled every RBAC object with one unbounded range); a read that fails is retried and reported,
 * and a write waiting for the policy waits at most rbacPolicyWaitMs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { rbacPolicyWaitMs, rbacReloadRetryMsMax } from '../../../src/config/index.ts';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { PolicyHolder } from '../../../src/api/k8s/policy-holder.ts';
import type { MvccReader } from '../../../src/api/kv/backend.ts';
import { isMvccError, MvccStore, type RangeOptions, type Watcher } from '../../../src/storage/mvcc/index.ts';
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
        if (isMvccError(error, 'E_WATCHERS_FULL')) break;
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

const encode = (text: string) => new TextEncoder().encode(text);
const clusterRole = (name: string) => encode(JSON.stringify({
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
}));
const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function openStore(): Promise<MvccStore> {
  const { fs } = processOn(new PowerLossDisk());
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(new Uint8Array(32).fill(1), 'test KEK'), fs });
  return MvccStore.open({ dir: '/data/mvcc', sealer: keyring, storeId: 'm1/mvcc', openLevel: (d) => new PowerLossLevel(fs, d) });
}

/** `store` as the holder reads it, counting the values its ranges return, and failing while `failing.now`. */
function observed(store: MvccStore, failing: { now: boolean }) {
  const counts = { values: 0 };
  const reader: MvccReader = {
    ...store, watch: store.watch.bind(store), currentRevision: store.currentRevision.bind(store), compactRevision: store.compactRevision.bind(store),
    range: async (key: Uint8Array, end?: Uint8Array, options?: RangeOptions) => {
      if (failing.now) throw Object.assign(new Error('injected'), { code: 'E_INJECTED' });
      const result = await store.range(key, end, options);
      if (options?.keysOnly !== true) counts.values += result.kvs.length;
      return result;
    },
  } as MvccReader;
  return { reader, counts };
}

test('a change reads only the objects that changed; an object its key does not name grants nothing', async () => {
  const store = await openStore();
  let index = 1;
  for (let i = 0; i < 50; i++) await store.applyBatch(index++, [{ type: 'put', key: encode(`/registry/clusterroles/r${i}`), value: clusterRole(`r${i}`) }]);
  // Stored under another object's key (a KV write by system:masters): it would define r1 twice.
  await store.applyBatch(index++, [{ type: 'put', key: encode('/registry/clusterroles/stray'), value: clusterRole('r1') }]);
  const { reader, counts } = observed(store, { now: false });
  const holder = new PolicyHolder(() => reader, undefined, new ManualClock());
  await holder.start();
  assert.equal(counts.values, 51, 'the first read reads every object');
  assert.equal(holder.policy.counts.clusterRoles, 50);
  counts.values = 0;
  await store.applyBatch(index++, [{ type: 'put', key: encode('/registry/clusterroles/r50'), value: clusterRole('r50') }]);
  await store.applyBatch(index, [{ type: 'deleteRange', key: encode('/registry/clusterroles/r0') }]);
  assert.equal(await holder.waitFor(store.currentRevision()), true);
  assert.equal(holder.loadedRevision, store.currentRevision());
  assert.ok(counts.values <= 1, `${counts.values} values were read for one change`);
  assert.equal(holder.policy.counts.clusterRoles, 50);
  assert.ok(holder.policy.roleRules.has('ClusterRole\0r50') && !holder.policy.roleRules.has('ClusterRole\0r0'));
  holder.stop();
  await store.close();
});

test('reads that fail: retried, reported by problem(), and waitFor answers false after rbacPolicyWaitMs, never rejecting', async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const store = await openStore();
  try {
    const failing = { now: false };
    const { reader } = observed(store, failing);
    const clock = new ManualClock();
    const holder = new PolicyHolder(() => reader, undefined, clock);
    await holder.start();
    failing.now = true;
    await store.applyBatch(1, [{ type: 'put', key: encode('/registry/clusterroles/late'), value: clusterRole('late') }]);
    const waited = holder.waitFor(store.currentRevision());
    await settle();
    assert.match(holder.problem() ?? '', /E_INJECTED/);
    assert.equal(holder.loadedRevision, 0);
    for (let ms = 0; ms <= rbacPolicyWaitMs; ms += 100) {
      clock.advance(100);
      await settle();
    }
    assert.equal(await waited, false, 'the wait ends, and says the policy does not include the change');
    failing.now = false;
    clock.advance(rbacReloadRetryMsMax);
    await settle();
    assert.equal(holder.loadedRevision, store.currentRevision(), 'a retry brought the policy up to the store');
    assert.equal(holder.problem(), undefined);
    assert.equal(holder.policy.counts.clusterRoles, 1);
    holder.stop();
    assert.deepEqual(rejections, []);
  } finally {
    process.off('unhandledRejection', onRejection);
    await store.close();
  }
});
