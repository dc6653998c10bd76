/**
 * Store behaviour the model test does not cover: limits at the boundary, prevKv, refused operations
 * inside a batch, physical compaction in bounded steps that neither stalls reads and writes nor is lost
 * across a restart, compares over a key range, the page bytes the quota counts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { compactionStepKeysMax, compareRangeKeysMax, keyBytesMax, txnOpsMax, valueBytesMax } from '../../../src/config/index.ts';
import { type Compare, type WriteOp, isMvccError, prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { type Fixture, b, fixture, s } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

test('keys, values and transactions over their limits are refused with E_LIMIT naming the limit', async () => {
  const store = await f.open(f.newDir());
  try {
    await assert.rejects(store.put(new Uint8Array(keyBytesMax + 1), b('v')), (e) => isMvccError(e, 'E_LIMIT') && /keyBytesMax/.test(e.message));
    await assert.rejects(store.put(b('k'), new Uint8Array(valueBytesMax + 1)), (e) => isMvccError(e, 'E_LIMIT') && /valueBytesMax/.test(e.message));
    const tooMany = Array.from({ length: txnOpsMax + 1 }, (_, i) => ({ type: 'put' as const, key: b(`k${i}`), value: b('v') }));
    await assert.rejects(store.txn({ compare: [], success: tooMany, failure: [] }), (e) => isMvccError(e, 'E_LIMIT') && /txnOpsMax/.test(e.message));
    await assert.rejects(store.put(new Uint8Array(0), b('v')), (e) => isMvccError(e, 'E_BAD_REQUEST'));
    await assert.rejects(store.range(b('k'), undefined, { revision: 1 }), (e) => isMvccError(e, 'E_FUTURE_REV'));
    // At the limits exactly, writes succeed.
    await store.put(new Uint8Array(keyBytesMax).fill(0x61), new Uint8Array(valueBytesMax));
    assert.equal(store.currentRevision(), 1);
  } finally {
    await store.close();
  }
});

test('a refused operation in a batch changes nothing while the others apply and the index advances', async () => {
  const store = await f.open(f.newDir());
  try {
    const results = await store.applyBatch(5, [
      { type: 'put', key: b('a'), value: b('1') },
      { type: 'put', key: b('b'), value: new Uint8Array(valueBytesMax + 1) },
      { type: 'compact', revision: 9 },
      { type: 'txn', compare: [], success: [{ type: 'range', key: b('a'), options: { revision: 7 } }, { type: 'put', key: b('c'), value: b('3') }], failure: [] },
      { type: 'txn', compare: [], success: [{ type: 'put', key: b('d'), value: b('4') }, { type: 'range', key: b('a'), options: { revision: 7 } }], failure: [] },
      { type: 'put', key: b('e'), value: b('5') },
    ]);
    assert.deepEqual(results.map((r) => (r.ok ? r.response.type : r.error.code)), ['put', 'E_LIMIT', 'E_FUTURE_REV', 'E_FUTURE_REV', 'E_FUTURE_REV', 'put']);
    assert.equal(store.appliedIndex(), 5);
    assert.equal(store.currentRevision(), 2);
    const all = await store.range(b('a'), b('\u0000'));
    assert.deepEqual(all.kvs.map((kv) => s(kv.key)), ['a', 'e'], 'the refused transactions left no trace');
    // An entry with no operations still advances the applied index.
    await store.applyBatch(6, []);
    assert.equal(store.appliedIndex(), 6);
  } finally {
    await store.close();
  }
});

test('put and deleteRange return the key-values they replaced when asked', async () => {
  const store = await f.open(f.newDir());
  try {
    assert.equal((await store.put(b('p/1'), b('one'), { prevKv: true })).prevKv, undefined);
    const second = await store.put(b('p/1'), b('uno'), { prevKv: true });
    assert.equal(s(second.prevKv!.value), 'one');
    assert.equal(second.prevKv!.modRevision, 1);
    await store.put(b('p/2'), b('two'));
    const deleted = await store.deleteRange(b('p/'), prefixEnd(b('p/')), { prevKv: true });
    assert.equal(deleted.deleted, 2);
    assert.deepEqual(deleted.prevKvs!.map((kv) => [s(kv.key), s(kv.value), kv.version]), [['p/1', 'uno', 2], ['p/2', 'two', 1]]);
    const nothing = await store.deleteRange(b('p/'), prefixEnd(b('p/')));
    assert.equal(nothing.deleted, 0);
    assert.equal(store.currentRevision(), 4, 'deleting nothing makes no revision');
  } finally {
    await store.close();
  }
});

test('a compare over a key range holds when every key in it does; over no key as a missing key; past compareRangeKeysMax keys it is refused', async () => {
  const store = await f.open(f.newDir());
  try {
    await store.put(b('r/a'), b('v'));
    await store.put(b('r/b'), b('v'));
    await store.put(b('s/a'), b('w'));
    const holds = async (c: Omit<Compare, 'result'> & Partial<Pick<Compare, 'result'>>): Promise<boolean> =>
      (await store.txn({ compare: [{ result: 'equal', ...c }], success: [], failure: [] })).succeeded;
    const prefix = { key: b('r/'), end: prefixEnd(b('r/')) };
    assert.equal(await holds({ ...prefix, target: 'value', value: b('v') }), true, 'every key of r/ holds v');
    assert.equal(await holds({ ...prefix, target: 'version', value: 1 }), true);
    assert.equal(await holds({ key: b('r/'), end: Uint8Array.of(0), target: 'value', value: b('v') }), false, 'from r/ onwards, s/a holds w');
    assert.equal(await holds({ key: b('r/'), end: Uint8Array.of(0), target: 'modRevision', result: 'greater', value: 0 }), true);
    await store.put(b('r/b'), b('x'));
    assert.equal(await holds({ ...prefix, target: 'value', value: b('v') }), false, 'one key off is enough to fail');
    assert.equal(await holds({ ...prefix, target: 'value', result: 'notEqual', value: b('v') }), false, 'r/a still equals v');
    const none = { key: b('none/'), end: prefixEnd(b('none/')) };
    assert.equal(await holds({ ...none, target: 'createRevision', value: 0 }), true, 'no key compares as a missing one');
    assert.equal(await holds({ ...none, target: 'value', value: new Uint8Array(0) }), false, 'a value compare over no key fails');

    const many: WriteOp[] = Array.from({ length: compareRangeKeysMax + 1 }, (_, i) => ({ type: 'put', key: b(`m/${i}`), value: b('1') }));
    await store.applyBatch(store.appliedIndex() + 1, many);
    const revision = store.currentRevision();
    await assert.rejects(
      store.txn({ compare: [{ key: b('m/'), end: prefixEnd(b('m/')), target: 'version', result: 'greater', value: 0 }], success: [{ type: 'put', key: b('t'), value: b('1') }], failure: [] }),
      (e) => isMvccError(e, 'E_LIMIT') && /compareRangeKeysMax/.test(e.message),
    );
    assert.equal(store.currentRevision(), revision, 'the refused transaction wrote nothing');
  } finally {
    await store.close();
  }
});

test('the page bytes the store holds: added by writes, the same after a reopen, taken off by physical compaction', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  try {
    assert.equal(store.pageBytes(), 0);
    await store.put(b('q/a'), new Uint8Array(10_000));
    await store.put(b('q/b'), new Uint8Array(20_000));
    const written = store.pageBytes();
    assert.ok(written > 30_000 && written < 31_000, `two pages of 30,000 value bytes, sealed: ${written}`);
    await store.close();
    store = await f.open(dir);
    assert.equal(store.pageBytes(), written, 'counted again at open');
    await store.deleteRange(b('q/'), prefixEnd(b('q/')));
    assert.ok(store.pageBytes() > written, 'a tombstone adds its page');
    await store.compact(store.currentRevision());
    await store.whenCompacted();
    assert.equal(store.pageBytes(), 0, 'a compaction past the delete leaves no page of the keys');
    await store.close();
    store = await f.open(dir);
    assert.equal(store.pageBytes(), 0);
  } finally {
    await store.close();
  }
});

async function rawPageCount(dir: string): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return (await db.keys({ gte: Uint8Array.of(0x72), lt: Uint8Array.of(0x73) }).all()).length;
  } finally {
    await db.close();
  }
}

test('physical compaction runs in bounded steps while reads and writes go on, and leaves only kept pages', async () => {
  const dir = f.newDir();
  const store = await f.open(dir);
  const superseded = 10 * compactionStepKeysMax;
  await store.applyBatch(1, Array.from({ length: superseded + 10 }, (_, i): WriteOp => ({ type: 'put', key: b(`k${i % 10}`), value: b(`v${i}`) })));
  let finished = false;
  await store.compact(store.currentRevision());
  const cleanup = store.whenCompacted().then(() => {
    finished = true;
  });
  // A write and a read issued now complete before the clean-up does: compaction yields between steps.
  await store.put(b('k0'), b('during'));
  assert.equal(s((await store.range(b('k0'))).kvs[0]!.value), 'during');
  assert.equal(finished, false, 'the write and the read did not wait for the whole clean-up');
  await cleanup;
  await store.close();
  assert.equal(await rawPageCount(dir), 11, 'one page per key at the compact revision, plus the later write');
});

test('a physical compaction interrupted by close resumes at the next open, across deleted generations', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  // Keys live, die and come back, so the interrupted clean-up leaves generations cut at any point.
  const ops: WriteOp[] = [];
  for (let i = 0; ops.length < 5 * compactionStepKeysMax; i++) {
    ops.push({ type: 'put', key: b(`k${i % 4}`), value: b(`v${i}`) });
    if (i % 7 === 3) ops.push({ type: 'deleteRange', key: b(`k${i % 4}`) });
  }
  await store.applyBatch(1, ops);
  const compactAt = store.currentRevision() - 3;
  const atCompact = await store.range(b('k'), prefixEnd(b('k')), { revision: compactAt });
  const latest = await store.range(b('k'), prefixEnd(b('k')));
  await store.compact(compactAt);
  await store.close(); // stops after the step in progress
  const left = await rawPageCount(dir);
  assert.ok(left > 2 * compactionStepKeysMax, `pages were left for the next open (${left})`);
  store = await f.open(dir);
  try {
    assert.deepEqual(await store.range(b('k'), prefixEnd(b('k')), { revision: compactAt }), atCompact);
    await store.whenCompacted();
    assert.equal(store.compactRevision(), compactAt);
    assert.deepEqual(await store.range(b('k'), prefixEnd(b('k')), { revision: compactAt }), atCompact);
    assert.deepEqual(await store.range(b('k'), prefixEnd(b('k'))), latest);
  } finally {
    await store.close();
  }
  const kept = await rawPageCount(dir);
  assert.ok(kept <= 4 + 3, `only pages at or after the compact revision are left (${kept})`);
  store = await f.open(dir);
  await store.close();
});

test('reads at old revisions issued before and during a compaction return exact data or E_COMPACTED', async () => {
  const store = await f.open(f.newDir());
  try {
    const keys = 20;
    const total = 6 * compactionStepKeysMax;
    const key = (j: number): Uint8Array => b(`k${String(j).padStart(2, '0')}`);
    await store.applyBatch(1, Array.from({ length: total }, (_, i): WriteOp => ({ type: 'put', key: key((i + 1) % keys), value: b(`v${i + 1}`) })));
    // At revision r, key j holds the value of the last revision i <= r with i % keys === j.
    const expected = (r: number): string[] => Array.from({ length: keys }, (_, j) => `v${r - ((((r - j) % keys) + keys) % keys)}`);
    const compactAt = total - compactionStepKeysMax;
    const readWave = (count: number): Promise<{ rev: number; values?: string[]; error?: unknown }>[] =>
      Array.from({ length: count }, (_, n) => {
        const rev = total / 2 + ((n * 37) % (total / 2 + 1));
        return store.range(b('k'), prefixEnd(b('k')), { revision: rev }).then(
          (r) => ({ rev, values: r.kvs.map((kv) => s(kv.value)) }),
          (error: unknown) => ({ rev, error }),
        );
      });
    // Wave 1 is validated before the compaction and must be served whole (its LevelDB snapshot keeps the
    // pages it needs); wave 2 starts while the clean-up runs.
    const before = readWave(100);
    const writes = Array.from({ length: 20 }, (_, i) => store.put(key(i), b(`late${i}`)));
    await store.compact(compactAt);
    let cleaned = false;
    const cleanup = store.whenCompacted().then(() => {
      cleaned = true;
    });
    const during = readWave(100);
    assert.equal(cleaned, false, 'wave 2 was issued while physical compaction was still running');
    await Promise.all([cleanup, ...writes]);
    for (const result of await Promise.all(before)) {
      assert.deepEqual(result.values, expected(result.rev), `wave 1, revision ${result.rev}: ${String(result.error)}`);
    }
    let refused = 0;
    for (const result of await Promise.all(during)) {
      if (result.rev < compactAt) {
        assert.ok(isMvccError(result.error, 'E_COMPACTED'), `wave 2, revision ${result.rev}: ${String(result.error)}`);
        refused++;
      } else {
        assert.deepEqual(result.values, expected(result.rev), `wave 2, revision ${result.rev}: ${String(result.error)}`);
      }
    }
    assert.ok(refused > 0 && refused < 100, `both outcomes occurred in wave 2 (${refused} refused)`);
    for (const rev of [compactAt, total]) {
      assert.deepEqual((await store.range(b('k'), prefixEnd(b('k')), { revision: rev })).kvs.map((kv) => s(kv.value)), expected(rev));
    }
  } finally {
    await store.close();
  }
});
