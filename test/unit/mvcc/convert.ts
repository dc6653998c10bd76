/** Translation between the reference model's string world and the store's byte world, for tests. */
import {
  type KeyValue, MvccError, type RangeResponse, type TxnOp, type WriteOp, type WriteResponse, prefixEnd,
} from '../../../src/storage/mvcc/index.ts';
import type { ModelKv, ModelOp, ModelResult } from './reference-model.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

/** Model span ends: undefined (one key), '\u0000' (no bound), or a key string. */
export function endBytes(end: string | undefined): Uint8Array | undefined {
  return end === undefined ? undefined : bytes(end);
}

export function prefixEndString(prefix: string): string {
  return decoder.decode(prefixEnd(bytes(prefix)));
}

export function toStoreOp(op: ModelOp): WriteOp | TxnOp {
  switch (op.type) {
    case 'put':
      return { type: 'put', key: bytes(op.key), value: bytes(op.value) };
    case 'deleteRange':
      return op.end === undefined ? { type: 'deleteRange', key: bytes(op.key) } : { type: 'deleteRange', key: bytes(op.key), end: bytes(op.end) };
    case 'range': {
      const options = { revision: op.revision, limit: op.limit, keysOnly: op.keysOnly, countOnly: op.countOnly };
      return op.end === undefined ? { type: 'range', key: bytes(op.key), options } : { type: 'range', key: bytes(op.key), end: bytes(op.end), options };
    }
    case 'txn':
      return {
        type: 'txn',
        compare: op.compare.map((c) => ({ key: bytes(c.key), target: c.target, result: c.result, value: typeof c.value === 'string' ? bytes(c.value) : c.value })),
        success: op.success.map((o) => toStoreOp(o) as TxnOp),
        failure: op.failure.map((o) => toStoreOp(o) as TxnOp),
      };
    case 'compact':
      return { type: 'compact', revision: op.revision };
  }
}

export function kvToModel(kv: KeyValue): ModelKv {
  return { key: decoder.decode(kv.key), value: decoder.decode(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
}

export function rangeToModel(r: RangeResponse): ModelResult {
  return { type: 'range', kvs: r.kvs.map(kvToModel), count: r.count, more: r.more };
}

export function responseToModel(r: WriteResponse | RangeResponse): ModelResult {
  switch (r.type) {
    case 'range':
      return rangeToModel(r);
    case 'put':
      return { type: 'put', revision: r.revision };
    case 'deleteRange':
      return { type: 'deleteRange', revision: r.revision, deleted: r.deleted };
    case 'txn':
      return { type: 'txn', revision: r.revision, succeeded: r.succeeded, responses: r.responses.map(responseToModel) };
    case 'compact':
      return { type: 'compact', compactRevision: r.compactRevision };
    default:
      throw new Error(`the model has no ${r.type} operation`);
  }
}

export function errorToModel(error: unknown): ModelResult {
  if (error instanceof MvccError && (error.code === 'E_COMPACTED' || error.code === 'E_FUTURE_REV' || error.code === 'E_BAD_REQUEST')) return { error: error.code };
  throw error;
}
