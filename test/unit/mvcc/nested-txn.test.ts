/**
 * Nested transactions (etcd 3.3+'s RequestOp.request_txn) as the store applies them: the branch of every
 * level is chosen by that level's compares against the state before the outermost transaction; the whole
 * of it is one revision; no path may write a key twice; txnOpsMax applies per level as etcd applies it,
 * txnOpsTotalMax to the whole request and txnNestingLevelsMax to its depth; a refusal anywhere changes
 * nothing. (The model test, store-model.test.ts, runs random nested transactions against a naive model.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { txnNestingLevelsMax, txnOpsMax, txnOpsTotalMax } from '../../../src/config/index.ts';
import {
  type Compare, type MvccStore, type TxnOp, type TxnRequest, type TxnResponse, isMvccError,
} from '../../../src/storage/mvcc/index.ts';
import { type Fixture, b, fixture, s } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

const put = (key: string, value = 'v'): TxnOp => ({ type: 'put', key: b(key), value: b(value) });
const del = (key: string, end?: string): TxnOp => ({ type: 'deleteRange', key: b(key), ...(end === undefined ? {} : { end: b(end) }) });
const get = (key: string): TxnOp => ({ type: 'range', key: b(key) });
const valueIs = (key: string, value: string): Compare => ({ key: b(key), target: 'value', result: 'equal', value: b(value) });
const txn = (compare: Compare[], success: TxnOp[], failure: TxnOp[] = []): TxnRequest => ({ type: 'txn', compare, success, failure });

async function withStore(run: (store: MvccStore) => Promise<void>): Promise<void> {
  const store = await f.open(f.newDir());
  try {
    await run(store);
  } finally {
    await store.close();
  }
}

async function values(store: MvccStore): Promise<Record<string, string>> {
  const all = await store.range(b('\u0001'), b('\u0000'));
  return Object.fromEntries(all.kvs.map((kv) => [s(kv.key), s(kv.value)]));
}

/** The outcome of each level, outermost first, depth first: what `succeeded` says at every level that ran. */
function path(response: TxnResponse): boolean[] {
  return [response.succeeded, ...response.responses.flatMap((r) => (r.type === 'txn' ? path(r) : []))];
}

test('each level takes the branch its own compares choose; the other branches of every level do not run', async () => {
  await withStore(async (store) => {
    await store.put(b('flag'), b('on'));
    const result = await store.txn(txn([valueIs('flag', 'on')], [
      put('outer-success'),
      txn([valueIs('flag', 'off')], [put('inner-success')], [put('inner-failure'), txn([], [put('deepest')])]),
      txn([valueIs('flag', 'on')], [put('sibling-success')], [put('sibling-failure')]),
    ], [put('outer-failure'), txn([], [put('never')])]));
    assert.deepEqual(path(result), [true, false, true, true]);
    assert.deepEqual(Object.keys(await values(store)).sort(), ['deepest', 'flag', 'inner-failure', 'outer-success', 'sibling-success']);
    assert.deepEqual(result.responses.map((r) => r.type), ['put', 'txn', 'txn']);
  });
});

test('every level\'s compares see the state before the transaction, not the writes made before them in it', async () => {
  await withStore(async (store) => {
    await store.put(b('k'), b('1'));
    const version: Compare = { key: b('k'), target: 'version', result: 'equal', value: 1 };
    const result = await store.txn(txn([], [
      put('k', '2'),
      txn([valueIs('k', '1'), version], [put('saw-before')], [put('saw-own-write')]),
      txn([], [txn([valueIs('k', '2')], [put('deep-saw-own-write')], [put('deep-saw-before')])]),
    ]));
    assert.deepEqual(path(result), [true, true, true, false]);
    assert.deepEqual(await values(store), { 'deep-saw-before': 'v', k: '2', 'saw-before': 'v' });
  });
});

test('the whole nested transaction is one revision: one main revision, subs across levels, one revision in every answer', async () => {
  await withStore(async (store) => {
    await store.put(b('gone/1'), b('x'));
    await store.put(b('gone/2'), b('x'));
    const before = store.currentRevision();
    const watcher = store.watch({ key: b('\u0001'), end: b('\u0000'), startRevision: before + 1 });
    const result = await store.txn(txn([], [put('a'), txn([], [del('gone/', 'gone0'), txn([], [put('b')])]), put('c')]));
    assert.equal(store.currentRevision(), before + 1);
    const revisions = (r: TxnResponse): number[] => [r.revision, ...r.responses.flatMap((x) => (x.type === 'txn' ? revisions(x) : x.type === 'range' ? [] : [x.revision]))];
    assert.deepEqual(new Set(revisions(result)), new Set([before + 1]));
    const next = await watcher.next();
    assert.ok(next.done !== true);
    assert.deepEqual(next.value.events.map((e) => `${e.type} ${s(e.kv.key)}@${e.kv.modRevision}`),
      [`put a@${before + 1}`, `delete gone/1@${before + 1}`, `delete gone/2@${before + 1}`, `put b@${before + 1}`, `put c@${before + 1}`]);
    watcher.cancel();
    const ops = await store.range(b('a'), b('d'));
    assert.deepEqual(ops.kvs.map((kv) => [s(kv.key), kv.modRevision]), [['a', before + 1], ['b', before + 1], ['c', before + 1]]);
  });
});

test('a read nested after a write sees that write, at the transaction\'s revision', async () => {
  await withStore(async (store) => {
    await store.put(b('k'), b('old'));
    const result = await store.txn(txn([], [put('k', 'new'), txn([], [get('k')])]));
    const inner = result.responses[1];
    assert.ok(inner?.type === 'txn' && inner.responses[0]?.type === 'range');
    assert.deepEqual([s(inner.responses[0].kvs[0]!.value), inner.responses[0].revision], ['new', result.revision]);
  });
});

test('no path may write a key twice, across levels, in either order; the two branches of one level may each write it', async () => {
  await withStore(async (store) => {
    const refused: [string, TxnRequest][] = [
      ['put outside, put inside', txn([], [put('k'), txn([], [put('k')])])],
      ['put inside, put outside', txn([], [txn([], [], [put('k')]), put('k')])],
      ['put in one nested, put in a sibling', txn([], [txn([], [put('k')]), txn([], [], [put('k')])])],
      ['delete outside, put inside', txn([], [del('a', 'z'), txn([], [txn([], [put('k')])])])],
      ['put inside, delete outside', txn([], [txn([], [put('k')]), del('k')])],
      ['delete in one nested, put in a later sibling', txn([], [txn([], [del('k')]), txn([], [put('k')])])],
      // etcd 3.4 lets this one through (its check runs in one order only); Coffer refuses it.
      ['put in one nested, delete in a later sibling', txn([], [txn([], [put('k')]), txn([], [del('a', 'z')])])],
      ['only in the failure branch', txn([], [], [txn([], [put('k')]), put('k')])],
    ];
    for (const [what, request] of refused) {
      await assert.rejects(store.txn(request), (e) => isMvccError(e, 'E_BAD_REQUEST') && /^duplicate key given in txn request/.test(e.message), what);
    }
    assert.equal(store.currentRevision(), 0, 'no refused transaction changed anything');
    const allowed: [string, TxnRequest][] = [
      ['the same key in both branches of a nested transaction', txn([], [txn([valueIs('x', 'y')], [put('k', '1')], [put('k', '2')])])],
      ['a put in one branch and a delete in the other', txn([], [txn([], [del('k')], [put('k')])])],
      ['two deletes of one key', txn([], [del('k'), txn([], [del('k')])])],
      ['the same key in the outer branches and nested ones under the other', txn([], [put('k')], [txn([], [put('k')])])],
    ];
    for (const [what, request] of allowed) await store.txn(request).catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
  });
});

test('txnOpsMax applies per level as etcd applies it: a nested transaction gets what the levels around it leave', async () => {
  await withStore(async (store) => {
    const puts = (n: number, prefix: string): TxnOp[] => Array.from({ length: n }, (_, i) => put(`${prefix}${i}`));
    const outerWidth = 100;
    const nestedAt = (innerWidth: number) => txn([], [...puts(outerWidth - 1, 'o'), txn([], puts(innerWidth, 'i'))]);
    await assert.rejects(store.txn(nestedAt(txnOpsMax - outerWidth + 1)), (e) => isMvccError(e, 'E_LIMIT') && /txnOpsMax \(128\) leaves/.test(e.message));
    const accepted = await store.txn(nestedAt(txnOpsMax - outerWidth));
    assert.equal(accepted.responses.length, outerWidth);
  });
});

test('txnOpsTotalMax bounds the compares and operations of the whole request, every level and branch counted', async () => {
  await withStore(async (store) => {
    const reads = (n: number): TxnOp[] => Array.from({ length: n }, () => get('k'));
    // Each level is far within txnOpsMax; only the total is over.
    const wide = (nested: number, each: number) => txn([], Array.from({ length: nested }, () => txn([], reads(each), reads(each))));
    const each = 20;
    const nested = Math.floor(txnOpsTotalMax / (2 * each + 1));
    await store.txn(wide(nested, each));
    await assert.rejects(store.txn(wide(nested + 1, each)), (e) => isMvccError(e, 'E_LIMIT') && /txnOpsTotalMax \(1024\)/.test(e.message));
  });
});

test('transactions nested txnNestingLevelsMax levels deep apply; one level more is refused with the limit named', async () => {
  await withStore(async (store) => {
    const nest = (levels: number): TxnRequest => {
      let request = txn([], [put('deep')]);
      for (let level = 1; level < levels; level++) request = txn([], [request]);
      return request;
    };
    const result = await store.txn(nest(txnNestingLevelsMax));
    assert.equal(path(result).length, txnNestingLevelsMax);
    await assert.rejects(store.txn(nest(txnNestingLevelsMax + 1)), (e) => isMvccError(e, 'E_LIMIT') && /17 levels deep exceeds txnNestingLevelsMax \(16\)/.test(e.message));
  });
});

test('a refusal deep inside (a read at a future revision) takes back what the levels before it wrote', async () => {
  await withStore(async (store) => {
    await store.put(b('k'), b('1'));
    const future: TxnOp = { type: 'range', key: b('k'), options: { revision: 99 } };
    await assert.rejects(store.txn(txn([], [put('k', '2'), txn([], [put('x'), txn([], [future])])])), (e) => isMvccError(e, 'E_FUTURE_REV'));
    assert.deepEqual([await values(store), store.currentRevision()], [{ k: '1' }, 1]);
    const history = await store.range(b('k'), undefined, { revision: 1 });
    assert.equal(s(history.kvs[0]!.value), '1');
  });
});
