/**
 * Model-based property tests: random sequences of put / deleteRange / txn (nested up to three levels) /
 * compact / range (including reads at old revisions), single and batched, with restarts that rebuild the index from disk — the
 * store must answer exactly as the naive reference model does.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { endBytes, errorToModel, prefixEndString, rangeToModel, responseToModel, toStoreOp } from './convert.ts';
import { type Fixture, b, fixture } from './helpers.ts';
import { type ModelCompare, type ModelOp, type ModelResult, ReferenceModel } from './reference-model.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

const keys = ['a', 'ab', 'abc', 'b', 'ba', 'c'];
const keyArb = fc.constantFrom(...keys);
const valueArb = fc.constantFrom('', 'x', 'y', 'zz', 'value-with-more-bytes');
/** A revision relative to the current one: the fraction picks 0..current+1 (current+1 is in the future). */
const relRevArb = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);

type Span = { key: string; end?: string };
const spanArb: fc.Arbitrary<Span> = fc.oneof(
  keyArb.map((key) => ({ key })),
  keyArb.map((key) => ({ key, end: prefixEndString(key) })),
  keyArb.map((key) => ({ key, end: '\u0000' })),
  fc.tuple(keyArb, keyArb).map(([x, y]) => ({ key: x < y ? x : y, end: x < y ? y : x })),
);

// Ops that carry a relative revision are resolved against the model when run.
type GenOp =
  | { type: 'put'; key: string; value: string }
  | { type: 'deleteRange'; span: Span }
  | { type: 'range'; span: Span; rel?: number; limit?: number; keysOnly?: boolean; countOnly?: boolean }
  | { type: 'txn'; compare: ModelCompare[]; success: GenOp[]; failure: GenOp[] }
  | { type: 'compact'; rel: number };

const putArb = fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb });
const deleteArb = fc.record({ type: fc.constant('deleteRange' as const), span: spanArb });
const rangeArb = fc.record(
  {
    type: fc.constant('range' as const), span: spanArb, rel: relRevArb, limit: fc.integer({ min: 0, max: 3 }),
    keysOnly: fc.boolean(), countOnly: fc.boolean(),
  },
  { requiredKeys: ['type', 'span'] },
);
const compareArb: fc.Arbitrary<ModelCompare> = fc.oneof(
  fc.record({ key: keyArb, target: fc.constant('value' as const), result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), value: valueArb }),
  fc.record({
    key: keyArb, target: fc.constantFrom('version' as const, 'createRevision' as const, 'modRevision' as const),
    result: fc.constantFrom('equal' as const, 'notEqual' as const, 'greater' as const, 'less' as const), value: fc.integer({ min: 0, max: 6 }),
  }),
);
/** A transaction whose branches hold `inner` operations: nested transactions are built level by level, three levels at most. */
const txnOf = (inner: fc.Arbitrary<GenOp>): fc.Arbitrary<GenOp> => {
  const branch = fc.array(inner, { maxLength: 3 });
  return fc.record({ type: fc.constant('txn' as const), compare: fc.array(compareArb, { maxLength: 2 }), success: branch, failure: branch });
};
const flatOpArb: fc.Arbitrary<GenOp> = fc.oneof(putArb, deleteArb, rangeArb);
const innerTxnArb = txnOf(flatOpArb);
const middleTxnArb = txnOf(fc.oneof({ weight: 3, arbitrary: flatOpArb }, { weight: 1, arbitrary: innerTxnArb }));
const txnArb = txnOf(fc.oneof({ weight: 3, arbitrary: flatOpArb }, { weight: 1, arbitrary: middleTxnArb }));
const compactArb = fc.record({ type: fc.constant('compact' as const), rel: relRevArb });
const writeArb: fc.Arbitrary<GenOp> = fc.oneof({ weight: 4, arbitrary: putArb }, { weight: 1, arbitrary: deleteArb }, { weight: 2, arbitrary: txnArb }, { weight: 1, arbitrary: compactArb });

type Command =
  | { kind: 'op'; op: GenOp }
  | { kind: 'batch'; ops: GenOp[] }
  | { kind: 'reopen' }
  | { kind: 'settle' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(writeArb, rangeArb).map((op): Command => ({ kind: 'op', op })) },
  { weight: 2, arbitrary: fc.array(writeArb, { minLength: 0, maxLength: 4 }).map((ops): Command => ({ kind: 'batch', ops })) },
  { weight: 1, arbitrary: fc.constant<Command>({ kind: 'reopen' }) },
  { weight: 1, arbitrary: fc.constant<Command>({ kind: 'settle' }) },
);

function resolve(op: GenOp, model: ReferenceModel): ModelOp {
  const rev = (rel: number): number => Math.floor(rel * (model.revision + 1.999));
  switch (op.type) {
    case 'put':
      return op;
    case 'deleteRange':
      return { type: 'deleteRange', key: op.span.key, end: op.span.end };
    case 'range':
      return { type: 'range', key: op.span.key, end: op.span.end, revision: op.rel === undefined ? undefined : rev(op.rel), limit: op.limit, keysOnly: op.keysOnly, countOnly: op.countOnly };
    case 'txn':
      return { type: 'txn', compare: op.compare, success: op.success.map((o) => resolve(o, model)), failure: op.failure.map((o) => resolve(o, model)) };
    case 'compact':
      return { type: 'compact', revision: rev(op.rel) };
  }
}

async function runOne(store: MvccStore, op: ModelOp): Promise<ModelResult> {
  try {
    switch (op.type) {
      case 'put':
        return responseToModel(await store.put(b(op.key), b(op.value)));
      case 'deleteRange':
        return responseToModel(await store.deleteRange(b(op.key), endBytes(op.end)));
      case 'range':
        return rangeToModel(await store.range(b(op.key), endBytes(op.end), { revision: op.revision, limit: op.limit, keysOnly: op.keysOnly, countOnly: op.countOnly }));
      case 'txn': {
        const t = toStoreOp(op);
        assert.ok(t.type === 'txn', 'a txn converts to a txn');
        return responseToModel(await store.txn(t));
      }
      case 'compact':
        return responseToModel(await store.compact(op.revision));
    }
  } catch (error) {
    return errorToModel(error);
  }
}

async function checkAllRevisions(store: MvccStore, model: ReferenceModel): Promise<void> {
  assert.equal(store.currentRevision(), model.revision);
  assert.equal(store.compactRevision(), model.compactRevision);
  for (let rev = Math.max(1, model.compactRevision); rev <= model.revision; rev++) {
    const all = { type: 'range' as const, key: '\u0000', end: '\u0000', revision: rev };
    assert.deepEqual(rangeToModel(await store.range(b('\u0000'), b('\u0000'), { revision: rev })), model.range(all, model.revision, Infinity), `full range at revision ${rev}`);
  }
  if (model.compactRevision > 1) {
    await assert.rejects(store.range(b('a'), undefined, { revision: model.compactRevision - 1 }), { code: 'E_COMPACTED', compactRevision: model.compactRevision });
  }
}

test('random operation sequences match the reference model, including old revisions and restarts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 30 }), async (commands) => {
      const dir = f.newDir();
      let store = await f.open(dir);
      const model = new ReferenceModel();
      let applied = 0;
      try {
        for (const command of commands) {
          switch (command.kind) {
            case 'op': {
              const op = resolve(command.op, model);
              const got = await runOne(store, op);
              assert.deepEqual(got, model.apply(op), `op ${JSON.stringify(op)}`);
              break;
            }
            case 'batch': {
              applied += 1 + command.ops.length;
              const results: ModelResult[] = [];
              const expected: ModelResult[] = [];
              const ops: ModelOp[] = [];
              // Resolve each op against the model state it will meet, so relative revisions stay meaningful.
              for (const g of command.ops) {
                const op = resolve(g, model);
                ops.push(op);
                expected.push(model.apply(op));
              }
              for (const r of await store.applyBatch(applied, ops.map((op) => toStoreOp(op) as never))) {
                results.push(r.ok ? responseToModel(r.response) : errorToModel(r.error));
              }
              assert.deepEqual(results, expected, `batch ${JSON.stringify(ops)}`);
              assert.equal(store.appliedIndex(), applied);
              break;
            }
            case 'reopen':
              await store.close();
              store = await f.open(dir);
              assert.equal(store.appliedIndex(), applied);
              break;
            case 'settle':
              await store.whenCompacted();
              break;
          }
        }
        await checkAllRevisions(store, model);
        await store.close();
        store = await f.open(dir);
        await checkAllRevisions(store, model);
        await store.whenCompacted();
        await checkAllRevisions(store, model);
      } finally {
        await store.close();
      }
    }),
    { numRuns: Number(process.env.MVCC_RUNS ?? 100) },
  );
});
