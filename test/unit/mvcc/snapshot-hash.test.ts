/**
 * Snapshot export/import and HashKV: a snapshot re-sealed by another member (other keys, other store
 * id) answers every read and watch like the original and hashes the same, leases included; an
 * interrupted import is detected; hashes agree between members with the same history regardless of
 * physical compaction progress, and differ when the contents differ — the leases too, at the current
 * revision.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { snapshotImportBatchRecordsMax } from '../../../src/config/index.ts';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { MvccStore, type SnapshotRecord, type WriteOp, isMvccError } from '../../../src/storage/mvcc/index.ts';
import { type Fixture, b, fixture } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

function history(): WriteOp[] {
  const ops: WriteOp[] = [];
  for (let i = 0; i < 60; i++) ops.push({ type: 'put', key: b(`k/${i % 7}`), value: b(`value ${i}`) });
  ops.push({ type: 'deleteRange', key: b('k/3') });
  ops.push({ type: 'compact', revision: 40 });
  for (let i = 0; i < 10; i++) ops.push({ type: 'put', key: b(`k/${i % 4}`), value: b(`late ${i}`) });
  ops.push({ type: 'deleteRange', key: b('k/1') });
  ops.push({ type: 'leaseGrant', id: 7, ttl: 60 });
  ops.push({ type: 'put', key: b('k/5'), value: b('leased'), lease: 7 });
  return ops;
}

async function collect(records: AsyncIterable<SnapshotRecord>): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

async function* replay(records: SnapshotRecord[], failAfter = Infinity): AsyncGenerator<SnapshotRecord> {
  let n = 0;
  for (const r of records) {
    if (n++ >= failAfter) throw new Error('the snapshot stream broke');
    yield await Promise.resolve(r);
  }
}

test('a snapshot imported by another member with other keys reads, watches and hashes the same', async () => {
  const source = await f.open(f.newDir());
  const otherRoot = path.join(f.root, 'other-member');
  await createKeyFile(path.join(otherRoot, 'kek.key'));
  const otherKeyring = await openKeyring({ dir: otherRoot, kek: await keyFileKek(path.join(otherRoot, 'kek.key')) });
  try {
    await source.applyBatch(7, history());
    const records = await collect(source.exportSnapshot());
    assert.deepEqual(records[0], { type: 'header', appliedIndex: 7, revision: source.currentRevision(), compactRevision: 40 });
    const copy = await MvccStore.importSnapshot({ dir: path.join(f.root, 'imported'), sealer: otherKeyring, storeId: 'member-2', records: replay(records) });
    try {
      assert.equal(copy.appliedIndex(), 7);
      assert.equal(copy.currentRevision(), source.currentRevision());
      assert.equal(copy.compactRevision(), 40);
      assert.deepEqual(await copy.hash(), await source.hash());
      for (let rev = 40; rev <= source.currentRevision(); rev++) {
        assert.deepEqual(await copy.range(b('k/'), b('k0'), { revision: rev }), await source.range(b('k/'), b('k0'), { revision: rev }), `revision ${rev}`);
      }
      const events = async (store: MvccStore): Promise<unknown[]> => {
        const w = store.watch({ key: b('k/'), end: b('k0'), startRevision: 41, prevKv: true });
        w.requestProgress();
        const out: unknown[] = [];
        for (;;) {
          const r = await w.next();
          assert.ok(r.done !== true, 'the watcher delivers');
          if (r.value.progress === true) break;
          out.push(...r.value.events);
        }
        w.cancel();
        return out;
      };
      assert.deepEqual(await events(copy), await events(source));
      // The copy's pages are sealed for its own store id: the original member cannot open them.
      await copy.close();
      await assert.rejects(MvccStore.open({ dir: path.join(f.root, 'imported'), sealer: f.keyring, storeId: 'member-2' }), (e) => isMvccError(e, 'E_INTEGRITY'));
    } finally {
      await copy.close();
    }
  } finally {
    await source.close();
    await otherKeyring.close();
  }
});

test('an interrupted snapshot import is detected when the directory is opened', async () => {
  const source = await f.open(f.newDir());
  try {
    // More pages than one import batch, so the broken import leaves pages behind.
    const many = snapshotImportBatchRecordsMax + 500;
    await source.applyBatch(3, Array.from({ length: many }, (_, i): WriteOp => ({ type: 'put', key: b(`k/${i % 50}`), value: b(`v${i}`) })));
    const records = await collect(source.exportSnapshot());
    assert.equal(records.length, many + 1);
    const dir = f.newDir();
    await assert.rejects(MvccStore.importSnapshot({ dir, sealer: f.keyring, storeId: 'partial', records: replay(records, many) }), /broke/);
    await assert.rejects(MvccStore.open({ dir, sealer: f.keyring, storeId: 'partial' }), (e) => isMvccError(e, 'E_CORRUPT'));
    await assert.rejects(MvccStore.importSnapshot({ dir: f.newDir(), sealer: f.keyring, storeId: 'x', records: replay(records.slice(1)) }), (e) => isMvccError(e, 'E_BAD_REQUEST'));
  } finally {
    await source.close();
  }
});

test('members with the same history hash the same, before and after physical compaction; different contents differ', async () => {
  const a = await f.open(f.newDir());
  const c = await f.open(f.newDir());
  try {
    const ops = history().filter((op) => op.type !== 'compact');
    await a.applyBatch(1, ops);
    await c.applyBatch(1, ops);
    assert.deepEqual(await a.hash(), await c.hash());
    const at30 = await a.hash(30);
    assert.equal(at30.revision, 30);
    assert.deepEqual(at30, await c.hash(30));
    assert.notEqual(at30.hash, (await a.hash()).hash);
    // Compaction changes the hash the same way on both, whether or not the pages are gone yet.
    await a.compact(45);
    const beforeCleanup = await a.hash();
    await a.whenCompacted();
    assert.deepEqual(await a.hash(), beforeCleanup);
    await c.compact(45);
    await c.whenCompacted();
    assert.deepEqual(await c.hash(), beforeCleanup);
    await assert.rejects(a.hash(44), (e) => isMvccError(e, 'E_COMPACTED') && e.compactRevision === 45);
    await c.put(b('k/0'), b('diverged'));
    await a.put(b('k/0'), b('diverges'));
    assert.notEqual((await a.hash()).hash, (await c.hash()).hash);
  } finally {
    await a.close();
    await c.close();
  }
});

test('the current hash covers the leases (id, granted TTL, attached keys); checkpoints and keep-alives do not change it', async () => {
  const base = history().filter((op) => op.type !== 'compact');
  const revision = 60;
  /** A member that applied the history and then `more`: its current hash, and its hash at an explicit revision. */
  const member = async (more: WriteOp[]) => {
    const store = await f.open(f.newDir());
    try {
      await store.applyBatch(1, [...base, ...more]);
      return { current: await store.hash(), at: await store.hash(revision) };
    } finally {
      await store.close();
    }
  };
  const grant9: WriteOp = { type: 'leaseGrant', id: 9, ttl: 30 };
  const reference = await member([grant9]);
  assert.deepEqual(await member([grant9]), reference, 'the same history hashes the same');
  const differ: [what: string, one: WriteOp[], other: WriteOp[]][] = [
    ['a lease missing', [], [grant9]],
    ['another lease id', [{ type: 'leaseGrant', id: 10, ttl: 30 }], [grant9]],
    ['another granted TTL', [{ type: 'leaseGrant', id: 9, ttl: 31 }], [grant9]],
    ['a key attached to another lease, the same value at the same revision',
      [grant9, { type: 'put', key: b('k/5'), value: b('leased'), lease: 9 }], [grant9, { type: 'put', key: b('k/5'), value: b('leased'), lease: 7 }]],
  ];
  for (const [what, one, other] of differ) assert.notEqual((await member(one)).current.hash, (await member(other)).current.hash, what);
  // A lease granted or missing takes no revision: same revision, other hash; at an explicit revision, no lease table.
  const missing = await member([]);
  assert.deepEqual([missing.current.revision, missing.at], [reference.current.revision, reference.at]);
  const kept = await member([
    { type: 'leaseGrant', id: 9, ttl: 30 }, { type: 'leaseKeepAlive', id: 7 },
    { type: 'leaseCheckpoint', checkpoints: [{ id: 9, remainingTtlMs: 12_000, refreshes: 0 }] },
  ]);
  assert.deepEqual(kept, reference, 'keep-alive counts and checkpointed remaining TTLs are left out');
});
