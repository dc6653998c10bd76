/**
 * The index checkpoint (src/storage/mvcc/index-checkpoint.ts, checkpointer.ts): a clean close leaves
 * one and a running store writes one in the background; the next open — after a clean stop or a crash —
 * reads it and the pages written after it instead of opening every page, and then answers exactly as an
 * open that scanned would, even when writes went on while the checkpoint was being built. A checkpoint
 * the store has compacted past, one altered or cut short, or one written by a store that failed or
 * whose physical compaction was unfinished is never used: the open scans, or refuses a rolled-back store.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { type MvccStore, MvccStore as Store, type WriteOp, isMvccError } from '../../../src/storage/mvcc/index.ts';
import { PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';
import { type Fixture, b, fixture } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture('coffer-index-checkpoint-');
});
after(async () => {
  await f.cleanup();
});

const checkpointRange = { gte: Uint8Array.of(0x6b), lt: Uint8Array.of(0x6c) };
const metaKey = Uint8Array.of(0x6d);

async function apply(store: MvccStore, ops: WriteOp[]): Promise<void> {
  for (const result of await store.applyBatch(store.appliedIndex() + 1, ops)) if (!result.ok) throw result.error;
}

/**
 * Everything a store answers: every revision still readable (from `since` on), the hashes, the leases
 * with their keys.
 */
async function answers(store: MvccStore, since = 1): Promise<unknown> {
  const revisions = [];
  for (let rev = Math.max(since, store.compactRevision()); rev <= store.currentRevision(); rev++) {
    revisions.push(await store.range(b('\u0000'), b('\u0000'), { revision: rev }));
  }
  return {
    revision: store.currentRevision(), compactRevision: store.compactRevision(), applied: store.appliedIndex(),
    keys: store.indexedKeys(), pageBytes: store.pageBytes(), hash: await store.hash(0), revisions,
    leases: store.leases().map((lease) => store.lease(lease.id)),
  };
}

/**
 * A store with what an index must keep: more keys than one checkpoint record holds, keys deleted and
 * written again (several generations), a key that is not UTF-8, a transaction's sub-revisions, keys on leases, and history
 * before a finished compaction.
 */
async function storeWithHistory(dir: string): Promise<void> {
  const store = await f.open(dir);
  try {
    for (let i = 0; i < 20_000; i += 1000) {
      await apply(store, Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: b(`bulk/${String(i + j).padStart(6, '0')}`), value: b('v') })));
    }
    await apply(store, [{ type: 'leaseGrant', id: 7, ttl: 60 }, { type: 'leaseGrant', id: 8, ttl: 60 }]);
    await apply(store, [{ type: 'put', key: b('leased/a'), value: b('1'), lease: 7 }, { type: 'put', key: b('leased/b'), value: b('1'), lease: 8 }]);
    for (let round = 0; round < 3; round++) {
      await store.put(b('reborn'), b(`life ${round}`));
      await store.put(b('reborn'), b(`life ${round}, again`));
      await store.deleteRange(b('reborn'));
    }
    await store.put(b('reborn'), b('alive'));
    // A key that is not UTF-8 (keys are bytes): the checkpoint must give back the same bytes.
    await store.put(Uint8Array.of(0xc3, 0xff, 0x00, 0x80), b('binary'));
    await store.txn({ compare: [], success: [{ type: 'put', key: b('txn/x'), value: b('1') }, { type: 'put', key: b('txn/y'), value: b('1') }], failure: [] });
    await store.compact(store.currentRevision() - 6);
    await store.whenCompacted();
    await store.put(b('leased/a'), b('2'), {});
    await store.txn({ compare: [], success: [{ type: 'deleteRange', key: b('txn/x') }, { type: 'put', key: b('txn/y'), value: b('2') }], failure: [] });
  } finally {
    await store.close();
  }
}

/** A copy of the closed store in `dir`, opened as the same store (its records are bound to its id). */
async function openCopy(dir: string, prepare: (copy: string) => Promise<void>): Promise<MvccStore> {
  const copy = f.newDir();
  await cp(dir, copy, { recursive: true });
  await prepare(copy);
  return f.open(copy, { storeId: `test/${path.basename(dir)}` });
}

async function withRawDb<T>(dir: string, use: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

/** Closes the store's database without the store's close: what a crash leaves. */
async function crash(store: MvccStore): Promise<void> {
  await (store as unknown as { db: ClassicLevel<Uint8Array, Uint8Array> }).db.close();
}

test('an open from the checkpoint answers as an open that scans every page, before and after more writes', async () => {
  const dir = f.newDir();
  await storeWithHistory(dir);
  const chunks = await withRawDb(dir, (db) => db.keys(checkpointRange).all());
  assert.ok(chunks.length >= 3, `a header and at least two chunks of keys (${chunks.length} records)`);
  const fromCheckpoint = await openCopy(dir, () => Promise.resolve());
  const scanned = await openCopy(dir, (copy) => Store.discardIndexCheckpoint({ dir: copy, sealer: f.keyring, storeId: 'unused' }));
  try {
    assert.deepEqual(fromCheckpoint.openedFrom(), { from: 'checkpoint', revision: fromCheckpoint.currentRevision(), pagesReplayed: 0 });
    assert.equal(scanned.openedFrom().from, 'scan');
    assert.deepEqual(await answers(fromCheckpoint), await answers(scanned));
    // The index goes on as the scanned one does: versions, generations and leases carry on.
    for (const store of [fromCheckpoint, scanned]) {
      await apply(store, [{ type: 'put', key: b('reborn'), value: b('next'), lease: 8 }, { type: 'leaseRevoke', id: 7 }]);
      await store.deleteRange(b('bulk/000100'), b('bulk/000200'));
      await store.compact(store.currentRevision() - 1);
      await store.whenCompacted();
    }
    assert.deepEqual(await answers(fromCheckpoint), await answers(scanned));
  } finally {
    await fromCheckpoint.close();
    await scanned.close();
  }
});

/** A store copy's answers once it has scanned every page, for comparison. */
async function scannedAnswers(dir: string, since?: number): Promise<unknown> {
  const store = await openCopy(dir, (copy) => Store.discardIndexCheckpoint({ dir: copy, sealer: f.keyring, storeId: 'unused' }));
  try {
    assert.equal(store.openedFrom().from, 'scan');
    return await answers(store, since);
  } finally {
    await store.close();
  }
}

test('after a crash the checkpoint of the last clean close serves: the open replays only the pages written since', async () => {
  const dir = f.newDir();
  await storeWithHistory(dir);
  const store = await f.open(dir);
  const checkpointRevision = store.currentRevision();
  // Every kind of change after the checkpoint: a new generation, a delete, a lease moved and revoked, a transaction, new keys.
  await apply(store, [{ type: 'put', key: b('reborn'), value: b('after'), lease: 8 }, { type: 'leaseRevoke', id: 7 }]);
  await store.deleteRange(b('bulk/000100'), b('bulk/000200'));
  await store.txn({ compare: [], success: [{ type: 'put', key: b('txn/x'), value: b('back') }, { type: 'deleteRange', key: b('txn/y') }], failure: [] });
  await store.txn({ compare: [], success: Array.from({ length: 50 }, (_, i) => ({ type: 'put' as const, key: b(`new/${i}`), value: b('v') })), failure: [] });
  await crash(store);
  const reopened = await openCopy(dir, () => Promise.resolve());
  try {
    const source = reopened.openedFrom();
    assert.ok(source.from === 'checkpoint' && source.revision === checkpointRevision, JSON.stringify(source));
    // reborn 1, the revoke none (leased/a was written again without its lease), 100 deletes, the transaction 2, 50 new keys.
    assert.equal(source.pagesReplayed, 1 + 100 + 2 + 50);
    // The revisions before the checkpoint's are the first test's; every one after it here.
    assert.deepEqual(await answers(reopened, checkpointRevision), await scannedAnswers(dir, checkpointRevision));
  } finally {
    await reopened.close();
  }
});

test('a running store writes a checkpoint in the background; changes made while it is built are replayed after a crash', async () => {
  const dir = f.newDir();
  const store = await f.open(dir, { indexCheckpointReplayPagesMin: 100 });
  // 20,000 keys: a checkpoint of them is two chunks, so building it yields to the writes below once.
  for (let i = 0; i < 20_000; i += 1000) {
    await apply(store, Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: b(`bulk/${String(i + j).padStart(6, '0')}`), value: b('v') })));
  }
  await apply(store, [{ type: 'leaseGrant', id: 7, ttl: 60 }]);
  await apply(store, [{ type: 'put', key: b('leased/a'), value: b('1'), lease: 7 }, { type: 'put', key: b('reborn'), value: b('1') }]);
  await store.whenCheckpointed();
  // Half the keys rewritten starts a checkpoint as of this revision, built a chunk at a time.
  await apply(store, Array.from({ length: 10_050 }, (_, j) => ({ type: 'put' as const, key: b(`bulk/${String(j).padStart(6, '0')}`), value: b('w') })));
  const checkpointRevision = store.currentRevision();
  // Before it reaches them: keys of its second chunk rewritten, deleted, reborn, their lease revoked, and new keys.
  const meanwhile = [
    apply(store, [{ type: 'put', key: b('bulk/019999'), value: b('later') }, { type: 'put', key: b('zz/new'), value: b('v') }]),
    store.deleteRange(b('bulk/018000'), b('bulk/018010')),
    store.deleteRange(b('reborn')),
    store.put(b('reborn'), b('2')),
    apply(store, [{ type: 'leaseRevoke', id: 7 }]),
  ];
  await Promise.all(meanwhile);
  await store.whenCheckpointed();
  const finalRevision = store.currentRevision();
  await crash(store);
  const reopened = await openCopy(dir, () => Promise.resolve());
  try {
    const source = reopened.openedFrom();
    assert.ok(source.from === 'checkpoint' && source.revision === checkpointRevision, JSON.stringify(source));
    assert.equal(source.pagesReplayed, 2 + 10 + 1 + 1 + 1);
    assert.equal(reopened.currentRevision(), finalRevision);
    // Every revision from just before the checkpoint's on (there are 25,000), and the hash of all of them.
    assert.deepEqual(await answers(reopened, checkpointRevision - 2), await scannedAnswers(dir, checkpointRevision - 2));
  } finally {
    await reopened.close();
  }
});

test('a compaction makes the checkpoint unusable until the next; the open after a crash scans', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  await store.put(b('k'), b('v1'));
  await store.put(b('k'), b('v2'));
  await store.close();
  store = await f.open(dir);
  await store.compact(store.currentRevision());
  await store.whenCompacted();
  await store.put(b('k'), b('v3'));
  await crash(store);
  store = await f.open(dir);
  try {
    const source = store.openedFrom();
    assert.ok(source.from === 'scan' && source.why.startsWith('the store was compacted since its index checkpoint'), JSON.stringify(source));
    assert.deepEqual((await store.range(b('k'))).kvs.map((kv) => [kv.version, kv.modRevision]), [[3, 3]]);
  } finally {
    await store.close();
  }
  assert.deepEqual(await withRawDb(dir, (db) => db.keys(checkpointRange).all()).then((keys) => keys.length > 0), true, 'the close wrote a new one');
  store = await f.open(dir);
  try {
    assert.equal(store.openedFrom().from, 'checkpoint');
  } finally {
    await store.close();
  }
});

test('a running store writes a new checkpoint after a compaction, so a crash after it need not scan', async () => {
  const dir = f.newDir();
  const store = await f.open(dir, { indexCheckpointReplayPagesMin: 3 });
  for (const key of ['a', 'b', 'c']) await store.put(b(key), b('v'));
  await store.whenCheckpointed();
  await store.compact(store.currentRevision());
  await store.whenCompacted();
  // One page since the last checkpoint, but that one is unusable now: a crash would open all four.
  await store.put(b('d'), b('v'));
  await store.whenCheckpointed();
  const revision = store.currentRevision();
  await crash(store);
  const reopened = await f.open(dir);
  try {
    assert.deepEqual(reopened.openedFrom(), { from: 'checkpoint', revision, pagesReplayed: 0 });
    assert.equal((await reopened.range(b('a'), b('e'))).kvs.length, 4);
  } finally {
    await reopened.close();
  }
});

test('a checkpoint left from an earlier close serves with the pages after it; with the meta record of its time the open is refused', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  await store.put(b('k'), b('v1'));
  await store.close();
  const earlier = await withRawDb(dir, async (db) => ({ checkpoint: await db.iterator(checkpointRange).all(), meta: (await db.get(metaKey))! }));
  store = await f.open(dir);
  await store.put(b('k'), b('v2'));
  await store.put(b('other'), b('v1'));
  await store.close();
  const putBack = (withMeta: boolean) => (copy: string) => withRawDb(copy, async (db) => {
    await db.clear(checkpointRange);
    await db.batch(earlier.checkpoint.map(([key, value]) => ({ type: 'put' as const, key, value })));
    if (withMeta) await db.put(metaKey, earlier.meta);
  });
  store = await openCopy(dir, putBack(false));
  try {
    assert.deepEqual(store.openedFrom(), { from: 'checkpoint', revision: 1, pagesReplayed: 2 });
    assert.deepEqual((await store.range(b('k'))).kvs.map((kv) => [kv.version, kv.modRevision]), [[2, 2]]);
    assert.equal((await store.range(b('other'))).kvs.length, 1);
  } finally {
    await store.close();
  }
  await assert.rejects(openCopy(dir, putBack(true)), (e) => isMvccError(e, 'E_CORRUPT') && /after the recorded revision 1\b/.test(e.message));
});

test('an altered, missing or extra checkpoint record means the open scans, and the answers are the scan\'s', async () => {
  const dir = f.newDir();
  await storeWithHistory(dir);
  const expected = await scannedAnswers(dir);
  const record = (chunk: number) => Uint8Array.of(0x6b, 0, 0, 0, chunk);
  const tampers: [string, (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>][] = [
    ['a flipped byte in a chunk of keys', async (db) => {
      const sealed = Uint8Array.from((await db.get(record(1)))!);
      sealed[sealed.length - 9]! ^= 0x01;
      await db.put(record(1), sealed);
    }],
    ['a chunk of keys deleted', (db) => db.del(record(2))],
    ['the header deleted', (db) => db.del(record(0))],
    ['two chunks swapped', async (db) => {
      const [one, two] = [(await db.get(record(1)))!, (await db.get(record(2)))!];
      await db.batch([{ type: 'put', key: record(1), value: two }, { type: 'put', key: record(2), value: one }]);
    }],
    ['a chunk added after the last', async (db) => db.put(record(200), (await db.get(record(1)))!)],
  ];
  for (const [what, tamper] of tampers) {
    const store = await openCopy(dir, (copy) => withRawDb(copy, tamper));
    try {
      assert.equal(store.openedFrom().from, 'scan', what);
      assert.deepEqual(await answers(store), expected, what);
    } finally {
      await store.close();
    }
  }
});

test('no checkpoint is written while a physical compaction is unfinished; the next open scans and finishes it', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  for (let i = 0; i < 3; i++) await apply(store, Array.from({ length: 1500 }, () => ({ type: 'put' as const, key: b('hot'), value: b('v') })));
  await store.compact(store.currentRevision());
  await store.close();
  store = await f.open(dir);
  try {
    assert.deepEqual(store.openedFrom(), { from: 'scan', why: 'the store holds no index checkpoint' });
    await store.whenCompacted();
  } finally {
    await store.close();
  }
  const pages = await withRawDb(dir, (db) => db.keys({ gte: Uint8Array.of(0x72), lt: Uint8Array.of(0x73) }).all());
  assert.equal(pages.length, 1, 'only the latest page of the key is left');
  store = await f.open(dir);
  try {
    assert.equal(store.openedFrom().from, 'checkpoint', 'once the compaction finished, the close wrote one');
  } finally {
    await store.close();
  }
});

test('a store that failed writes no checkpoint at close: its index may be ahead of its disk', async () => {
  let failNextSync = false;
  const { fs } = processOn(new PowerLossDisk(), 1, (op, file) => {
    if (!failNextSync || op !== 'datasync' || !file.endsWith('/mvcc/LOG')) return undefined;
    failNextSync = false;
    return 'EIO';
  });
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(new Uint8Array(32).fill(3), 'test KEK'), fs });
  const options = { dir: '/data/mvcc', sealer: keyring, storeId: 'm1/mvcc', openLevel: (dir: string) => new PowerLossLevel(fs, dir) };
  let store = await Store.open(options);
  await store.applyBatch(1, [{ type: 'put', key: b('k'), value: b('v') }]);
  failNextSync = true;
  await assert.rejects(store.syncToDisk(), (e) => isMvccError(e, 'E_FAILED'));
  await store.close();
  store = await Store.open(options);
  try {
    assert.deepEqual(store.openedFrom(), { from: 'scan', why: 'the store holds no index checkpoint' });
  } finally {
    await store.close();
  }
});

test('re-encryption after a DEK rotation leaves no checkpoint record on the old DEK; the close writes one under the new', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  await store.put(b('k'), b('v1'));
  await store.close();
  store = await f.open(dir);
  const active = await f.keyring.rotateDek();
  for (let after: Uint8Array | undefined, first = true; first || after !== undefined; first = false) {
    after = (await store.reencryptStep(after, { pagesMax: 100, scanMax: 1000 })).next;
  }
  assert.deepEqual([...(await store.pagesPerDek()).keys()], [active], 'every record, the checkpoint\'s counted, names the new DEK');
  await crash(store);
  assert.deepEqual(await withRawDb(dir, (db) => db.keys(checkpointRange).all()), [], 'the old checkpoint is gone');
  store = await f.open(dir);
  await store.close();
  store = await f.open(dir);
  try {
    assert.equal(store.openedFrom().from, 'checkpoint');
    assert.deepEqual([...(await store.pagesPerDek()).keys()], [active]);
  } finally {
    await store.close();
  }
});
