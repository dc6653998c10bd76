// Leases in the MVCC store: grant, attach by put, detach by put or delete, revoke (every attached key
// deleted in one revision, watchers told), keep-alive and checkpoints, txn compares on the lease, and
// the lease state surviving a reopen and a snapshot export/import; a put that keeps the value
// (ignore_value) beside one that keeps the lease; a revoke that names the keys it checked, refused when
// they changed since.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { leaseOwnerBytesMax, leasesPerOwnerMax } from '../../../src/config/index.ts';
import { checkWriteOp, isMvccError, leaseKeysCheck, MvccStore, type WriteOp, type WriteResponse } from '../../../src/storage/mvcc/index.ts';
import { b, type Fixture, fixture, s } from './helpers.ts';

let fx: Fixture;
before(async () => {
  fx = await fixture('coffer-leases-');
});
after(() => fx.cleanup());

let applied = 0;
async function apply(store: MvccStore, op: WriteOp): Promise<WriteResponse> {
  const [result] = await store.applyBatch(++applied, [op]);
  assert.ok(result !== undefined);
  if (!result.ok) throw result.error;
  return result.response;
}

async function refused(store: MvccStore, op: WriteOp, code: string): Promise<void> {
  const revision = store.currentRevision();
  const leases = JSON.stringify(store.leases());
  await assert.rejects(apply(store, op), (error: unknown) => isMvccError(error) && error.code === code);
  assert.equal(store.currentRevision(), revision, 'a refused operation writes no revision');
  assert.equal(JSON.stringify(store.leases()), leases, 'a refused operation changes no lease');
}

async function leaseOf(store: MvccStore, key: string): Promise<number | undefined> {
  return (await store.range(b(key))).kvs[0]?.lease;
}

test('a grant without an id takes the first free id from the entry index; an id in use is refused', async () => {
  const store = await fx.open(fx.newDir());
  try {
    assert.deepEqual(await apply(store, { type: 'leaseGrant', id: 0, ttl: 10, idFrom: 7 }), { type: 'leaseGrant', revision: 0, id: 7, ttl: 10 });
    assert.equal((await apply(store, { type: 'leaseGrant', id: 8, ttl: 5 }) as { id: number }).id, 8);
    // 7 and 8 are taken: the server's choice moves past them.
    assert.equal((await apply(store, { type: 'leaseGrant', id: 0, ttl: 5, idFrom: 7 }) as { id: number }).id, 9);
    await refused(store, { type: 'leaseGrant', id: 8, ttl: 5 }, 'E_LEASE_EXISTS');
    await refused(store, { type: 'leaseGrant', id: 0, ttl: 0 }, 'E_BAD_REQUEST');
    await refused(store, { type: 'leaseGrant', id: 0, ttl: 9_000_000_001 }, 'E_LIMIT');
    assert.deepEqual(store.leases().map((l) => [l.id, l.ttl]), [[7, 10], [8, 5], [9, 5]]);
  } finally {
    await store.close();
  }
});

test('ignore_value writes a new revision with the key\'s current value, alone or with ignore_lease; a missing key or a value sent is refused', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 1, ttl: 60 });
    await apply(store, { type: 'put', key: b('k'), value: b('held'), lease: 1 });
    const kept = await apply(store, { type: 'put', key: b('k'), value: new Uint8Array(0), ignoreValue: true, ignoreLease: true, prevKv: true });
    assert.equal(s((kept as { prevKv?: { value: Uint8Array } }).prevKv!.value), 'held', 'prev_kv still answers with the value replaced');
    const [kv] = (await store.range(b('k'))).kvs;
    assert.deepEqual([s(kv!.value), kv!.version, kv!.lease], ['held', 2, 1], 'same value, a new version, the lease kept');
    await apply(store, { type: 'put', key: b('k'), value: new Uint8Array(0), ignoreValue: true });
    assert.deepEqual([s((await store.range(b('k'))).kvs[0]!.value), await leaseOf(store, 'k')], ['held', 0], 'without ignore_lease the key leaves its lease');

    await refused(store, { type: 'put', key: b('missing'), value: new Uint8Array(0), ignoreValue: true }, 'E_BAD_REQUEST');
    await refused(store, { type: 'put', key: b('k'), value: b('x'), ignoreValue: true }, 'E_BAD_REQUEST');
    await refused(store, {
      type: 'txn', compare: [], success: [{ type: 'put', key: b('other'), value: b('1') }, { type: 'put', key: b('missing'), value: new Uint8Array(0), ignoreValue: true }], failure: [],
    }, 'E_BAD_REQUEST');
    assert.equal((await store.range(b('other'))).count, 0, 'the refused transaction wrote none of its puts');
  } finally {
    await store.close();
  }
});

test('a put attaches its key, another put without a lease or a delete detaches it, ignore_lease keeps it', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 1, ttl: 60 });
    await apply(store, { type: 'leaseGrant', id: 2, ttl: 60 });
    await apply(store, { type: 'put', key: b('a'), value: b('1'), lease: 1 });
    await apply(store, { type: 'put', key: b('b'), value: b('1'), lease: 1 });
    assert.equal(await leaseOf(store, 'a'), 1);
    assert.deepEqual(store.lease(1)?.keys.map(s), ['a', 'b']);

    await apply(store, { type: 'put', key: b('a'), value: b('2'), ignoreLease: true });
    assert.equal(await leaseOf(store, 'a'), 1, 'ignore_lease keeps the lease');
    await apply(store, { type: 'put', key: b('a'), value: b('3'), lease: 2 });
    assert.deepEqual(store.lease(1)?.keys.map(s), ['b'], 'moving to another lease leaves the first');
    assert.deepEqual(store.lease(2)?.keys.map(s), ['a']);
    await apply(store, { type: 'put', key: b('a'), value: b('4') });
    assert.equal(await leaseOf(store, 'a'), 0);
    assert.deepEqual(store.lease(2)?.keys, []);
    await apply(store, { type: 'deleteRange', key: b('b') });
    assert.deepEqual(store.lease(1)?.keys, []);

    await refused(store, { type: 'put', key: b('c'), value: b('1'), lease: 99 }, 'E_LEASE_NOT_FOUND');
    await refused(store, { type: 'put', key: b('missing'), value: b('1'), ignoreLease: true }, 'E_BAD_REQUEST');
    await refused(store, { type: 'put', key: b('a'), value: b('1'), lease: 1, ignoreLease: true }, 'E_BAD_REQUEST');
    assert.equal((await store.range(b('c'))).count, 0);
  } finally {
    await store.close();
  }
});

test('a revoke deletes every attached key in one revision, watchers see each delete, and a second revoke is refused', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 5, ttl: 60 });
    for (const key of ['k1', 'k2', 'k3']) await apply(store, { type: 'put', key: b(key), value: b('v'), lease: 5 });
    await apply(store, { type: 'put', key: b('other'), value: b('v') });
    const before = store.currentRevision();
    const watcher = store.watch({ key: b('k'), end: b('l'), startRevision: before + 1 });
    const response = await apply(store, { type: 'leaseRevoke', id: 5 });
    assert.deepEqual(response, { type: 'leaseRevoke', revision: before + 1, revoked: true });
    assert.equal((await store.range(b('k'), b('l'))).count, 0);
    assert.equal((await store.range(b('other'))).count, 1, 'a key on no lease stays');
    const next = await watcher[Symbol.asyncIterator]().next();
    assert.ok(next.done !== true);
    assert.deepEqual(next.value.events.map((e) => [e.type, s(e.kv.key), e.kv.modRevision]),
      [['delete', 'k1', before + 1], ['delete', 'k2', before + 1], ['delete', 'k3', before + 1]]);
    watcher.cancel();
    assert.equal(store.lease(5), undefined);
    await refused(store, { type: 'leaseRevoke', id: 5 }, 'E_LEASE_NOT_FOUND');
  } finally {
    await store.close();
  }
});

test('a revoke naming the keys it checked deletes them; if a key was attached or left since, it is refused and changes nothing', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 6, ttl: 60 });
    for (const key of ['k2', 'k1']) await apply(store, { type: 'put', key: b(key), value: b('v'), lease: 6 });
    const checked = leaseKeysCheck(['k1', 'k2']);
    assert.deepEqual(leaseKeysCheck(['k2', 'k1']), checked, 'the same keys in any order');
    assert.equal(checked.count, 2);
    // Each key is framed by its length: two keys never hash as one key holding both.
    assert.notEqual(leaseKeysCheck(['k1k2']).sha256, leaseKeysCheck(['k1', 'k2']).sha256);

    // A key attached after the check (what a put by another client does between the API's check and the apply).
    await apply(store, { type: 'put', key: b('k3'), value: b('v'), lease: 6 });
    const keysOf = async () => (await store.range(b('k'), b('l'))).kvs.map((kv) => `${s(kv.key)}@${kv.modRevision} lease ${kv.lease}`);
    const before = await keysOf();
    await refused(store, { type: 'leaseRevoke', id: 6, ifKeys: checked }, 'E_LEASE_KEYS_CHANGED');
    assert.deepEqual(await keysOf(), before, 'the refused revoke deleted no key');
    // Fewer keys than checked: one left the lease (a put without it).
    await apply(store, { type: 'put', key: b('k3'), value: b('v') });
    await apply(store, { type: 'put', key: b('k2'), value: b('v') });
    await refused(store, { type: 'leaseRevoke', id: 6, ifKeys: checked }, 'E_LEASE_KEYS_CHANGED');
    // The same count, other keys.
    await apply(store, { type: 'put', key: b('k3'), value: b('v'), lease: 6 });
    await refused(store, { type: 'leaseRevoke', id: 6, ifKeys: checked }, 'E_LEASE_KEYS_CHANGED');
    // A lease checked while it held nothing (or did not exist yet) may not delete keys attached since.
    await refused(store, { type: 'leaseRevoke', id: 6, ifKeys: leaseKeysCheck([]) }, 'E_LEASE_KEYS_CHANGED');

    const revision = store.currentRevision();
    assert.deepEqual(await apply(store, { type: 'leaseRevoke', id: 6, ifKeys: leaseKeysCheck(['k3', 'k1']) }), { type: 'leaseRevoke', revision: revision + 1, revoked: true });
    assert.deepEqual((await store.range(b('k'), b('l'))).kvs.map((kv) => s(kv.key)), ['k2'], 'the keys checked are deleted, the key that left stays');
    assert.equal(store.lease(6), undefined);
    await apply(store, { type: 'leaseGrant', id: 7, ttl: 60 });
    assert.equal((await apply(store, { type: 'leaseRevoke', id: 7, ifKeys: leaseKeysCheck([]) }) as { revoked: boolean }).revoked, true, 'a lease without keys, checked empty');
    await refused(store, { type: 'leaseRevoke', id: 7, ifKeys: leaseKeysCheck([]) }, 'E_LEASE_NOT_FOUND');
  } finally {
    await store.close();
  }
});

test('the keys a revoke checked must be a count and a lowercase hex SHA-256', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 8, ttl: 60 });
    const sha256 = leaseKeysCheck([]).sha256;
    const bad: unknown[] = [null, 'k1', { count: -1, sha256 }, { count: 0.5, sha256 }, { sha256 }, { count: 0 }, { count: 0, sha256: sha256.toUpperCase() },
      { count: 0, sha256: sha256.slice(1) }, { count: 0, sha256: `${sha256}0` }, { count: 0, sha256: 7 }];
    for (const ifKeys of bad) {
      const op = { type: 'leaseRevoke', id: 8, ifKeys } as unknown as WriteOp;
      assert.throws(() => checkWriteOp(op), (error: unknown) => isMvccError(error, 'E_BAD_REQUEST'), JSON.stringify(ifKeys));
      await refused(store, op, 'E_BAD_REQUEST');
    }
    assert.ok(store.lease(8) !== undefined);
  } finally {
    await store.close();
  }
});

test('keep-alive clears the checkpointed TTL and counts; a checkpoint or an expiry measured before a keep-alive is skipped', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 3, ttl: 30 });
    await apply(store, { type: 'put', key: b('x'), value: b('v'), lease: 3 });
    await apply(store, { type: 'leaseCheckpoint', checkpoints: [{ id: 3, remainingTtlMs: 12_000, refreshes: 0 }, { id: 404, remainingTtlMs: 1, refreshes: 0 }] });
    assert.deepEqual(store.leases(), [{ id: 3, ttl: 30, remainingTtlMs: 12_000, refreshes: 0 }]);
    assert.deepEqual(await apply(store, { type: 'leaseKeepAlive', id: 3 }), { type: 'leaseKeepAlive', revision: store.currentRevision(), id: 3, ttl: 30 });
    assert.deepEqual(store.leases(), [{ id: 3, ttl: 30, remainingTtlMs: 0, refreshes: 1 }]);
    await apply(store, { type: 'leaseCheckpoint', checkpoints: [{ id: 3, remainingTtlMs: 5_000, refreshes: 0 }] });
    assert.equal(store.leases()[0]?.remainingTtlMs, 0, 'a checkpoint measured before the keep-alive does not cut the lease');
    const revision = store.currentRevision();
    assert.deepEqual(await apply(store, { type: 'leaseRevoke', id: 3, ifRefreshes: 0 }), { type: 'leaseRevoke', revision, revoked: false });
    assert.equal(await leaseOf(store, 'x'), 3, 'an expiry the keep-alive overtook leaves the lease and its keys');
    await refused(store, { type: 'leaseKeepAlive', id: 404 }, 'E_LEASE_NOT_FOUND');
  } finally {
    await store.close();
  }
});

test('a txn compares on the lease, and a txn putting to an unknown lease changes nothing', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 4, ttl: 60 });
    await apply(store, { type: 'put', key: b('t'), value: b('v'), lease: 4 });
    const txn = (lease: number) => apply(store, {
      type: 'txn', compare: [{ key: b('t'), target: 'lease', result: 'equal', value: lease }], success: [], failure: [],
    });
    assert.equal((await txn(4) as { succeeded: boolean }).succeeded, true);
    assert.equal((await txn(0) as { succeeded: boolean }).succeeded, false);
    const missing = await apply(store, { type: 'txn', compare: [{ key: b('none'), target: 'lease', result: 'equal', value: 0 }], success: [], failure: [] });
    assert.equal((missing as { succeeded: boolean }).succeeded, true, 'a missing key has lease 0');
    await refused(store, {
      type: 'txn', compare: [], failure: [],
      success: [{ type: 'put', key: b('t'), value: b('w') }, { type: 'put', key: b('u'), value: b('w'), lease: 77 }],
    }, 'E_LEASE_NOT_FOUND');
    assert.equal(await leaseOf(store, 't'), 4, 'the rolled-back put did not detach the key');
    assert.deepEqual(store.lease(4)?.keys.map(s), ['t']);
  } finally {
    await store.close();
  }
});

test('leases and their keys survive a reopen and a snapshot export/import', async () => {
  const dir = fx.newDir();
  let store = await fx.open(dir);
  await apply(store, { type: 'leaseGrant', id: 10, ttl: 100 });
  await apply(store, { type: 'leaseGrant', id: 11, ttl: 200 });
  await apply(store, { type: 'put', key: b('p'), value: b('v'), lease: 10 });
  await apply(store, { type: 'put', key: b('q'), value: b('v'), lease: 11 });
  await apply(store, { type: 'put', key: b('q'), value: b('v2'), lease: 10 });
  await apply(store, { type: 'put', key: b('r'), value: b('v'), lease: 11 });
  await apply(store, { type: 'deleteRange', key: b('r') });
  await apply(store, { type: 'leaseCheckpoint', checkpoints: [{ id: 11, remainingTtlMs: 150_000, refreshes: 0 }] });
  await apply(store, { type: 'leaseGrant', id: 12, ttl: 5 });
  await apply(store, { type: 'leaseRevoke', id: 12 });
  const expected = { leases: store.leases(), keys10: store.lease(10)?.keys.map(s), keys11: store.lease(11)?.keys.map(s) };
  assert.deepEqual(expected, {
    leases: [{ id: 10, ttl: 100, remainingTtlMs: 0, refreshes: 0 }, { id: 11, ttl: 200, remainingTtlMs: 150_000, refreshes: 0 }],
    keys10: ['p', 'q'], keys11: [],
  });
  await store.close();
  store = await fx.open(dir);
  try {
    assert.deepEqual({ leases: store.leases(), keys10: store.lease(10)?.keys.map(s), keys11: store.lease(11)?.keys.map(s) }, expected);
    assert.equal(await leaseOf(store, 'q'), 10);
    const copyDir = fx.newDir();
    const copy = await MvccStore.importSnapshot({
      dir: copyDir, sealer: fx.keyring, storeId: 'test/copy', records: store.exportSnapshot(),
    });
    try {
      assert.deepEqual({ leases: copy.leases(), keys10: copy.lease(10)?.keys.map(s), keys11: copy.lease(11)?.keys.map(s) }, expected);
      assert.equal((await copy.hash()).hash, (await store.hash()).hash);
    } finally {
      await copy.close();
    }
  } finally {
    await store.close();
  }
});

test('a lease records its owner: another user\'s revoke, keep-alive or attach (flat or in a txn) is refused at apply, a lease without an owner is anyone\'s', async () => {
  const store = await fx.open(fx.newDir());
  try {
    await apply(store, { type: 'leaseGrant', id: 1, ttl: 60, owner: 'alice' });
    await apply(store, { type: 'leaseGrant', id: 2, ttl: 60 });
    assert.deepEqual(store.leases(), [{ id: 1, ttl: 60, remainingTtlMs: 0, refreshes: 0, owner: 'alice' }, { id: 2, ttl: 60, remainingTtlMs: 0, refreshes: 0 }]);
    await refused(store, { type: 'leaseKeepAlive', id: 1, ifOwner: 'mallory' }, 'E_LEASE_NOT_OWNED');
    await refused(store, { type: 'leaseRevoke', id: 1, ifOwner: 'mallory' }, 'E_LEASE_NOT_OWNED');
    await refused(store, { type: 'put', key: b('k'), value: b('v'), lease: 1, ifLeaseOwner: 'mallory' }, 'E_LEASE_NOT_OWNED');
    const attach = { type: 'put', key: b('k'), value: b('v'), lease: 1, ifLeaseOwner: 'mallory' } as const;
    const nested: WriteOp = {
      type: 'txn', compare: [], failure: [],
      success: [{ type: 'put', key: b('a'), value: b('v') }, { type: 'txn', compare: [], success: [attach], failure: [] }],
    };
    await refused(store, nested, 'E_LEASE_NOT_OWNED');
    assert.deepEqual((await store.range(b('a'))).kvs, [], 'the refused txn wrote none of its puts');
    // The owner may; so may a proposal naming nobody (system:masters, the lessor's expiry).
    await apply(store, { type: 'put', key: b('k'), value: b('v'), lease: 1, ifLeaseOwner: 'alice' });
    await apply(store, { type: 'leaseKeepAlive', id: 1, ifOwner: 'alice' });
    await apply(store, { type: 'leaseKeepAlive', id: 1 });
    assert.equal(store.lease(1)?.refreshes, 2);
    // A lease granted before leases had owners is anyone's.
    await apply(store, { type: 'put', key: b('m'), value: b('v'), lease: 2, ifLeaseOwner: 'mallory' });
    await apply(store, { type: 'leaseKeepAlive', id: 2, ifOwner: 'mallory' });
    await apply(store, { type: 'leaseRevoke', id: 2, ifOwner: 'mallory' });
    await apply(store, { type: 'leaseRevoke', id: 1, ifOwner: 'alice' });
    assert.deepEqual([store.leases(), (await store.range(b('k'))).kvs, (await store.range(b('m'))).kvs], [[], [], []]);
  } finally {
    await store.close();
  }
});

test('one user holds at most leasesPerOwnerMax leases; a revoke frees one; other users and ownerless grants are not counted against it', async () => {
  const store = await fx.open(fx.newDir());
  try {
    const grants: WriteOp[] = Array.from({ length: leasesPerOwnerMax }, (_, i) => ({ type: 'leaseGrant', id: i + 1, ttl: 60, owner: 'alice' }));
    const results = await store.applyBatch(++applied, grants);
    assert.ok(results.every((r) => r.ok));
    await refused(store, { type: 'leaseGrant', id: 0, ttl: 60, idFrom: 1, owner: 'alice' }, 'E_LEASE_QUOTA');
    await apply(store, { type: 'leaseGrant', id: 0, ttl: 60, idFrom: 1, owner: 'bob' });
    await apply(store, { type: 'leaseGrant', id: 0, ttl: 60, idFrom: 1 });
    await apply(store, { type: 'leaseRevoke', id: 1, ifOwner: 'alice' });
    await apply(store, { type: 'leaseGrant', id: 0, ttl: 60, idFrom: 1, owner: 'alice' });
    await refused(store, { type: 'leaseGrant', id: 0, ttl: 60, idFrom: 1, owner: 'alice' }, 'E_LEASE_QUOTA');
  } finally {
    await store.close();
  }
});

test('a lease owner must be a user name of at most leaseOwnerBytesMax bytes, in every operation that names one', () => {
  const long = 'u'.repeat(leaseOwnerBytesMax + 1);
  const cases: [WriteOp, string][] = [
    [{ type: 'leaseGrant', id: 0, ttl: 5, owner: '' }, 'E_BAD_REQUEST'],
    [{ type: 'leaseGrant', id: 0, ttl: 5, owner: long }, 'E_LIMIT'],
    [{ type: 'leaseRevoke', id: 1, ifOwner: 7 as unknown as string }, 'E_BAD_REQUEST'],
    [{ type: 'leaseKeepAlive', id: 1, ifOwner: long }, 'E_LIMIT'],
    [{ type: 'put', key: b('k'), value: b('v'), lease: 1, ifLeaseOwner: '' }, 'E_BAD_REQUEST'],
  ];
  for (const [op, code] of cases) assert.throws(() => checkWriteOp(op), (error: unknown) => isMvccError(error) && error.code === code, JSON.stringify(op.type));
  checkWriteOp({ type: 'leaseGrant', id: 0, ttl: 5, owner: 'u'.repeat(leaseOwnerBytesMax) });
});

test('a lease\'s owner survives a reopen and a snapshot export/import, and is in the hash', async () => {
  const dir = fx.newDir();
  let store = await fx.open(dir);
  await apply(store, { type: 'leaseGrant', id: 1, ttl: 60, owner: 'alice' });
  await apply(store, { type: 'leaseGrant', id: 2, ttl: 60 });
  await store.close();
  store = await fx.open(dir);
  const twin = await fx.open(fx.newDir());
  try {
    assert.deepEqual(store.leases().map((l) => l.owner), ['alice', undefined]);
    assert.equal(store.lease(1)?.owner, 'alice');
    const copy = await MvccStore.importSnapshot({ dir: fx.newDir(), sealer: fx.keyring, storeId: 'test/owners', records: store.exportSnapshot() });
    try {
      assert.deepEqual(copy.leases(), store.leases());
      assert.equal((await copy.hash()).hash, (await store.hash()).hash);
    } finally {
      await copy.close();
    }
    // The same leases granted to another owner: the stores differ, and so do their hashes.
    await apply(twin, { type: 'leaseGrant', id: 1, ttl: 60, owner: 'bob' });
    await apply(twin, { type: 'leaseGrant', id: 2, ttl: 60 });
    assert.notEqual((await twin.hash()).hash, (await store.hash()).hash);
  } finally {
    await twin.close();
    await store.close();
  }
});
