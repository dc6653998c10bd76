/**
 * What one request may read (read-budget.ts) and transactions that write nothing served as reads
 * (read-txn.ts): a range, or all the reads of a transaction (ranges of every branch run and value compares,
 * nested ones included), share rangeResultBytesMax and stop once over it, having read about the budget
 * from disk — not the whole range, nor N copies of it; the applier and the read path refuse the same
 * request alike; a read-only transaction answers as the applier would, changes nothing, refuses one that
 * writes, and starts again when a compaction passes its revision while it reads. A client's read charges
 * what it holds to its account (ReadAccount) as it reads, and stops when the account refuses.
 *
 * Disk reads are counted through the store's LevelDB seam (`openLevel`): the sealed bytes getMany hands
 * back. A store reopened has an empty page cache, so every page a read opens comes from disk.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { batchWatchPrevKvBytesMax, keyBytesMax, rangeResultBytesMax, valueBytesMax, watchReplayRevisionBytesMax } from '../../../src/config/index.ts';
import {
  classicLevel, isMvccError, type Level, type MvccStore, type TxnOp, type TxnRequest, type WriteOp,
} from '../../../src/storage/mvcc/index.ts';
import { type Fixture, b, fixture, s } from './helpers.ts';

const MiB = 1024 * 1024;
/** The most a read may take from disk past the budget: the page that takes it over (and its seal). */
const onePageMore = keyBytesMax + valueBytesMax + 1024;

let f: Fixture;
/** A store holding `app/` (8 values of 1 MiB) and `big/` (96 of 1 MiB), and the disk bytes its reads took. */
let dir: string;
const disk = { bytes: 0, hold: undefined as Promise<void> | undefined };

/** classic-level, its getMany counted (and held while `disk.hold` is set). */
function countingLevel(path: string): Level {
  const db = classicLevel(path);
  const getMany = db.getMany.bind(db) as (keys: unknown[], options?: unknown) => Promise<(Uint8Array | undefined)[]>;
  (db as unknown as { getMany: typeof getMany }).getMany = async (keys, options) => {
    if (disk.hold !== undefined) await disk.hold;
    const values = await getMany(keys, options);
    for (const value of values) disk.bytes += value?.length ?? 0;
    return values;
  };
  return db;
}

/** The store in `dir`, reopened (nothing in its page cache), its disk reads counted from 0. */
async function reopened(): Promise<MvccStore> {
  disk.bytes = 0;
  return f.open(dir, { openLevel: countingLevel });
}

before(async () => {
  f = await fixture('coffer-read-txn-');
  dir = f.newDir();
  const store = await f.open(dir);
  const value = new Uint8Array(MiB).fill(0x61);
  let index = 0;
  for (const [prefix, n] of [['app/', 8], ['big/', 96]] as const) {
    for (let i = 0; i < n; i += 8) {
      const ops: WriteOp[] = Array.from({ length: Math.min(8, n - i) }, (_, k) => ({ type: 'put', key: b(`${prefix}${String(i + k).padStart(4, '0')}`), value }));
      await store.applyBatch(++index, ops);
    }
  }
  await store.close();
});
after(() => f.cleanup());

const ranges = (n: number, prefix = 'app/'): TxnOp[] => Array.from({ length: n }, () => ({ type: 'range', key: b(prefix), end: b(`${prefix.slice(0, -1)}0`) }));
const overBudget = (e: unknown) => isMvccError(e, 'E_LIMIT') && /rangeResultBytesMax \(\d+\)/.test(e.message) && !/\d+ bytes/.test(e.message);

test('a range over rangeResultBytesMax is refused having read about the budget from disk, not the whole range', async () => {
  const store = await reopened();
  try {
    const refusal = await store.range(b('big/'), b('big0')).then(() => undefined, (error: unknown) => error);
    assert.ok(isMvccError(refusal, 'E_LIMIT'), String(refusal));
    assert.ok(disk.bytes <= rangeResultBytesMax + onePageMore, `read ${disk.bytes} bytes from disk for a budget of ${rangeResultBytesMax}`);
    assert.ok(overBudget(refusal), `the refusal names the limit, not how much was read: ${refusal.message}`);
    // With a limit it is answered, and reads only what it answers.
    disk.bytes = 0;
    const page = await store.range(b('big/'), b('big0'), { limit: 10 });
    assert.deepEqual([page.kvs.length, page.count, page.more], [10, 96, true]);
    assert.ok(disk.bytes < 11 * MiB);
  } finally {
    await store.close();
  }
});

/** An account that refuses past `max` bytes, and what it holds. */
function account(max: number) {
  const refusal = new Error('held past the test account');
  const held = { bytes: 0 };
  return {
    held, refusal,
    charge(bytes: number) {
      if (held.bytes + bytes > max) throw refusal;
      held.bytes += bytes;
    },
    refund(bytes: number) {
      held.bytes -= bytes;
    },
    headroom: () => max - held.bytes,
  };
}

test("a client's read charges what it holds to its account as it reads: kept when it succeeds, given back when it fails; the account's refusal stops it", async () => {
  const store = await reopened();
  try {
    // Answered: the account holds the answer's keys and values (of 1 MiB each) until its owner lets them go.
    const enough = account(64 * MiB);
    const read = await store.range(b('app/'), b('app0'), {}, enough);
    const answerBytes = read.kvs.reduce((sum, kv) => sum + kv.key.length + kv.value.length, 0);
    assert.ok(read.kvs.length > 1);
    assert.equal(enough.held.bytes, answerBytes);
    const txnAccount = account(64 * MiB);
    await store.readTxn({ type: 'txn', compare: [], success: ranges(2), failure: [] }, txnAccount);
    assert.equal(txnAccount.held.bytes, 2 * answerBytes);
    // Over the budget of the request (E_LIMIT): what it charged is given back.
    const overRequest = account(256 * MiB);
    await assert.rejects(store.range(b('big/'), b('big0'), {}, overRequest), overBudget);
    assert.equal(overRequest.held.bytes, 0);
    // Refused by the account: its own error, having read about what the account allowed (its steps no
    // larger than its headroom), nothing kept.
    const small = account(3 * MiB);
    disk.bytes = 0;
    await assert.rejects(store.range(b('big/'), b('big0'), {}, small), (error) => error === small.refusal);
    assert.equal(small.held.bytes, 0);
    assert.ok(disk.bytes <= 3 * MiB + onePageMore, `read ${disk.bytes} bytes from disk for an account of 3 MiB`);
    await assert.rejects(store.readTxn({ type: 'txn', compare: [], success: ranges(1), failure: [] }, small), (error) => error === small.refusal);
    assert.equal(small.held.bytes, 0);
  } finally {
    await store.close();
  }
});

test('the reads of one transaction share the budget, applied or served as a read: refused alike, each having read about the budget', async () => {
  const store = await reopened();
  try {
    // One range of app/ is 8 MiB; 16 of them are 128 MiB, refused whole after about 64 MiB.
    const txn: TxnRequest = { type: 'txn', compare: [], success: ranges(16), failure: [] };
    await assert.rejects(store.readTxn(txn), overBudget);
    assert.ok(disk.bytes <= rangeResultBytesMax + onePageMore, `the read path read ${disk.bytes} bytes`);
    disk.bytes = 0;
    const revision = store.currentRevision();
    // Applied (as a Raft entry is): the same refusal, the transaction's write taken back.
    const [applied] = await store.applyBatch(store.appliedIndex() + 1, [{ ...txn, success: [...txn.success, { type: 'put', key: b('w'), value: b('1') }] }]);
    assert.ok(applied !== undefined && !applied.ok && overBudget(applied.error), JSON.stringify(applied));
    assert.ok(disk.bytes <= rangeResultBytesMax + onePageMore, `the applier read ${disk.bytes} bytes`);
    assert.equal(store.currentRevision(), revision);
    assert.equal((await store.range(b('w'))).count, 0);
    // Nested transactions and the failure branch count toward the same budget.
    const nested: TxnRequest = {
      type: 'txn', compare: [{ key: b('app/0000'), target: 'version', result: 'equal', value: 5 }], success: [],
      failure: [...ranges(4), { type: 'txn', compare: [], success: ranges(4), failure: [] }, { type: 'txn', compare: [], success: ranges(1), failure: [] }],
    };
    await assert.rejects(store.readTxn(nested), overBudget);
    await assert.rejects(store.txn(nested), overBudget);
    // A value compare reads the pages it compares: 9 compares over the 8 MiB of app/ are over too.
    const compares: TxnRequest = {
      type: 'txn', compare: Array.from({ length: 9 }, () => ({ key: b('app/'), end: b('app0'), target: 'value' as const, result: 'equal' as const, value: new Uint8Array(MiB).fill(0x61) })),
      success: [], failure: [],
    };
    await assert.rejects(store.readTxn(compares), overBudget);
    await assert.rejects(store.txn(compares), overBudget);
    // Under the budget, both answer.
    const some: TxnRequest = { type: 'txn', compare: compares.compare.slice(0, 2), success: ranges(3), failure: [] };
    const read = await store.readTxn(some);
    assert.deepEqual([read.succeeded, read.responses.length], [true, 3]);
    assert.deepEqual(read, await store.txn(some));
  } finally {
    await store.close();
  }
});

test('a transaction that writes nothing, served as a read, answers as the applier does and changes nothing', async () => {
  const store = await f.open(f.newDir());
  try {
    await store.applyBatch(1, [{ type: 'leaseGrant', id: 7, ttl: 60 }]);
    await store.put(b('k/a'), b('1'));
    await store.put(b('k/b'), b('2'));
    await store.applyBatch(2, [{ type: 'put', key: b('k/c'), value: b('3'), lease: 7 }]);
    await store.put(b('k/a'), b('4'));
    await store.deleteRange(b('k/b'));
    const requests: TxnRequest[] = [
      { type: 'txn', compare: [], success: [], failure: [] },
      {
        type: 'txn',
        compare: [{ key: b('k/a'), target: 'value', result: 'equal', value: b('4') }, { key: b('k/c'), target: 'lease', result: 'equal', value: 7 }],
        success: [
          { type: 'range', key: b('k/'), end: b('k0') },
          { type: 'range', key: b('k/'), end: b('k0'), options: { revision: 3, keysOnly: true } },
          { type: 'range', key: b('k/'), end: b('k0'), options: { limit: 1 } },
          { type: 'range', key: b('k/'), end: b('k0'), options: { countOnly: true } },
          {
            type: 'txn', compare: [{ key: b('k/'), end: b('k0'), target: 'version', result: 'greater', value: 1 }],
            success: [{ type: 'range', key: b('nothing') }], failure: [{ type: 'range', key: b('k/c') }],
          },
        ],
        failure: [{ type: 'range', key: b('k/a') }],
      },
      {
        type: 'txn', compare: [{ key: b('k/b'), target: 'createRevision', result: 'greater', value: 0 }, { key: b('k/a'), target: 'lease', result: 'equal', value: 0 }],
        success: [], failure: [{ type: 'range', key: b('k/a'), options: { revision: 2 } }],
      },
    ];
    const revision = store.currentRevision();
    const applied = store.appliedIndex();
    for (const request of requests) {
      const read = await store.readTxn(request);
      assert.deepEqual(read, await store.txn(request), JSON.stringify(request, (_, v: unknown) => (v instanceof Uint8Array ? s(v) : v)));
      assert.equal(read.revision, revision);
    }
    assert.deepEqual([store.currentRevision(), store.appliedIndex()], [revision, applied], 'nothing was written');
    // Past and future revisions are refused as a range refuses them.
    await assert.rejects(store.readTxn({ type: 'txn', compare: [], success: [{ type: 'range', key: b('k/a'), options: { revision: revision + 1 } }], failure: [] }), (e) => isMvccError(e, 'E_FUTURE_REV'));
    await store.compact(3);
    await assert.rejects(store.readTxn({ type: 'txn', compare: [], success: [{ type: 'range', key: b('k/a'), options: { revision: 2 } }], failure: [] }), (e) => isMvccError(e, 'E_COMPACTED'));
    // A transaction that writes, at any depth of either branch, is not a read.
    for (const write of [{ type: 'put', key: b('x'), value: b('1') }, { type: 'deleteRange', key: b('x') }] as const) {
      const nestedWrite: TxnRequest = { type: 'txn', compare: [], success: [{ type: 'range', key: b('x') }], failure: [{ type: 'txn', compare: [], success: [], failure: [write] }] };
      await assert.rejects(store.readTxn(nestedWrite), (e) => isMvccError(e, 'E_BAD_REQUEST'));
    }
    assert.equal((await store.range(b('x'))).count, 0);
  } finally {
    await store.close();
  }
});

test('a compaction that passes a read-only transaction\'s revision while it reads: it starts again at the new revision', async () => {
  const store = await reopened();
  try {
    let release!: () => void;
    disk.hold = new Promise((resolve) => {
      release = resolve;
    });
    const request: TxnRequest = {
      type: 'txn', compare: [{ key: b('app/0000'), target: 'value', result: 'equal', value: new Uint8Array(MiB).fill(0x61) }],
      success: [{ type: 'range', key: b('app/'), end: b('app0'), options: { keysOnly: true } }], failure: [],
    };
    const reading = store.readTxn(request);
    // The compare waits for its page; meanwhile a key is added and history compacted past the read's revision.
    await store.put(b('app/new'), b('v'));
    await store.compact(store.currentRevision());
    disk.hold = undefined;
    release();
    const answer = await reading;
    assert.equal(answer.revision, store.currentRevision());
    const [range] = answer.responses;
    assert.ok(range?.type === 'range');
    assert.equal(range.kvs.length, 9, 'the range is of the new revision, the new key included');
  } finally {
    disk.hold = undefined;
    await store.close();
  }
});

test('a delete with prev_kv returns its previous values within the budget: over it, it is refused having read about the budget and deletes nothing, alone or in a transaction', async () => {
  const store = await reopened();
  try {
    const revision = store.currentRevision();
    const counts = async () => Promise.all(['big/', 'app/'].map(async (p) => (await store.range(b(p), b(`${p.slice(0, -1)}0`), { countOnly: true })).count));
    const before = await counts();
    // big/ holds 96 MiB: asked for with its previous values, refused once 64 MiB were read.
    const [alone] = await store.applyBatch(store.appliedIndex() + 1, [{ type: 'deleteRange', key: b('big/'), end: b('big0'), prevKv: true }]);
    assert.ok(alone !== undefined && !alone.ok && overBudget(alone.error), JSON.stringify(alone));
    assert.ok(disk.bytes <= rangeResultBytesMax + onePageMore, `the applier read ${disk.bytes} bytes`);
    // In a transaction, the delete shares the transaction's budget with its ranges: app/ (8 or 9 MiB by
    // now) read 7 times, then the delete of app/ with its values, is over; the transaction's put is taken back.
    disk.bytes = 0;
    const txn: TxnRequest = { type: 'txn', compare: [], success: [...ranges(7), { type: 'put', key: b('w'), value: b('1') }, { type: 'deleteRange', key: b('app/'), end: b('app0'), prevKv: true }], failure: [] };
    const [inTxn] = await store.applyBatch(store.appliedIndex() + 1, [txn]);
    assert.ok(inTxn !== undefined && !inTxn.ok && overBudget(inTxn.error), JSON.stringify(inTxn));
    assert.deepEqual([store.currentRevision(), await counts(), (await store.range(b('w'))).count], [revision, before, 0], 'nothing was deleted or written');
    // Within the budget it deletes and returns them.
    const [within] = await store.applyBatch(store.appliedIndex() + 1, [{ type: 'deleteRange', key: b('app/0000'), end: b('app/0004'), prevKv: true }]);
    assert.ok(within?.ok === true && within.response.type === 'deleteRange', JSON.stringify(within));
    assert.deepEqual([within.response.deleted, within.response.prevKvs?.map((kv) => s(kv.key))], [4, ['app/0000', 'app/0001', 'app/0002', 'app/0003']]);
  } finally {
    await store.close();
  }
});

test('a delete of a range larger than batchWatchPrevKvBytesMax while a prev_kv watcher is open: the batch carries about that much, and the watcher, which would hold the whole revision (over watchReplayRevisionBytesMax), is cancelled naming it', async () => {
  const store = await reopened();
  try {
    const watcher = store.watch({ key: b('big/'), end: b('big0'), prevKv: true });
    const [deleted] = await store.applyBatch(store.appliedIndex() + 1, [{ type: 'deleteRange', key: b('big/'), end: b('big0') }]);
    assert.ok(deleted?.ok === true, JSON.stringify(deleted));
    // The applier read the previous values for the watcher up to the bound (96 MiB were there); the
    // watcher's replay from disk may have begun.
    assert.ok(disk.bytes <= batchWatchPrevKvBytesMax + onePageMore + watchReplayRevisionBytesMax, `read ${disk.bytes} bytes while applying`);
    const revision = store.currentRevision();
    await assert.rejects(watcher.next(), (error: unknown) => isMvccError(error, 'E_LIMIT') && error.message.includes(`revision ${revision} holds more than watchReplayRevisionBytesMax`));
  } finally {
    await store.close();
  }
});
