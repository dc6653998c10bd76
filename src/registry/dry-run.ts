/**
 * A transaction evaluated without being written: the answer a dry-run write (`?dryRun=All`) gives.
 * Every key the transaction compares or touches is read at one linearizable revision; the compares
 * decide the branch as the store would decide it (store/mvcc semantics: a missing key has version,
 * create and mod revision 0, a value compare on it is false); ranges and the keys a delete would take
 * (with prevKv) are answered from that read; puts answer with the current revision.
 *
 * Invariant: nothing is proposed — no revision consumed, no watch event, nothing on disk.
 */
import type { Compare, DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, TxnOp, TxnRequest, TxnResponse } from '../storage/mvcc/index.ts';
import { assert } from '../base/index.ts';
import type { RegistryKv } from './kv.ts';

export async function evaluateWithoutWriting(kv: RegistryKv, request: Omit<TxnRequest, 'type'>): Promise<TxnResponse> {
  // The first read fixes the revision (linearizably); the rest read at it.
  let revision = 0;
  const read = async (key: Uint8Array, end: Uint8Array | undefined, countOnly = false): Promise<RangeResponse> => {
    const result = await kv.range(key, end, revision === 0 ? { linearizable: true, countOnly } : { revision, linearizable: false, countOnly });
    if (revision === 0) revision = result.revision;
    return result;
  };
  let succeeded = true;
  for (const compare of request.compare) {
    assert(compare.end === undefined, 'the registry compares single keys');
    if (!holds(compare, (await read(compare.key, undefined)).kvs[0])) succeeded = false;
  }
  if (revision === 0) await read(Uint8Array.of(0), undefined, true);
  const responses: TxnResponse['responses'] = [];
  for (const op of succeeded ? request.success : request.failure) responses.push(await answer(op, read, revision));
  return { type: 'txn', revision, succeeded, responses };
}

async function answer(op: TxnOp, read: (key: Uint8Array, end: Uint8Array | undefined, countOnly?: boolean) => Promise<RangeResponse>, revision: number): Promise<RangeResponse | PutResponse | DeleteRangeResponse> {
  assert(op.type !== 'txn', 'the registry builds no nested transaction');
  switch (op.type) {
    case 'range': return read(op.key, op.end, op.options?.countOnly === true);
    case 'put': return { type: 'put', revision };
    case 'deleteRange': {
      const taken = await read(op.key, op.end);
      return { type: 'deleteRange', revision, deleted: taken.count, ...(op.prevKv === true ? { prevKvs: taken.kvs } : {}) };
    }
  }
}

function holds(compare: Compare, kv: KeyValue | undefined): boolean {
  if (compare.target === 'value') {
    if (kv === undefined || typeof compare.value === 'number') return false;
    return matches(Buffer.compare(Buffer.from(kv.value), Buffer.from(compare.value)), compare.result);
  }
  const actual = kv === undefined ? 0 : kv[compare.target];
  const expected = compare.value as number;
  return matches(actual === expected ? 0 : actual < expected ? -1 : 1, compare.result);
}

function matches(order: number, result: Compare['result']): boolean {
  switch (result) {
    case 'equal': return order === 0;
    case 'notEqual': return order !== 0;
    case 'greater': return order > 0;
    case 'less': return order < 0;
  }
}
