/**
 * Boundary checks for requests: every limit named in config/limits.ts, checked before anything
 * changes, with an error naming the limit and the offending size (never the key or value itself).
 */
import { keyBytesMax, leaseCheckpointBatchMax, leaseTtlSecondsMax, txnOpsMax, valueBytesMax } from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { type KeySpan, keyToString, spanContains, toSpan } from './keys.ts';
import type { Compare, LeaseOp, RangeOptions, TxnOp, WriteOp } from './types.ts';

function checkCount(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new MvccError('E_BAD_REQUEST', `${what} ${String(value)} is not an integer in [${min}, ${max}]`);
  }
}

function checkLeaseOp(op: LeaseOp): void {
  switch (op.type) {
    case 'leaseGrant':
      checkCount(op.id, 'lease id', 0);
      if (op.idFrom !== undefined) checkCount(op.idFrom, 'lease id start', 1);
      if (typeof op.ttl === 'number' && op.ttl > leaseTtlSecondsMax) {
        throw new MvccError('E_LIMIT', `lease TTL of ${op.ttl} s exceeds leaseTtlSecondsMax (${leaseTtlSecondsMax})`);
      }
      checkCount(op.ttl, 'lease TTL', 1, leaseTtlSecondsMax);
      return;
    case 'leaseRevoke':
      checkCount(op.id, 'lease id', 1);
      if (op.ifRefreshes !== undefined) checkCount(op.ifRefreshes, 'lease refresh count', 0);
      return;
    case 'leaseKeepAlive':
      checkCount(op.id, 'lease id', 1);
      return;
    case 'leaseCheckpoint':
      if (!Array.isArray(op.checkpoints) || op.checkpoints.length > leaseCheckpointBatchMax) {
        throw new MvccError('E_BAD_REQUEST', `a lease checkpoint holds a list of at most ${leaseCheckpointBatchMax} leases (leaseCheckpointBatchMax)`);
      }
      for (const c of op.checkpoints) {
        checkCount(c.id, 'lease id', 1);
        checkCount(c.remainingTtlMs, 'remaining lease TTL', 0, leaseTtlSecondsMax * 1000);
        checkCount(c.refreshes, 'lease refresh count', 0);
      }
      return;
  }
}

export function checkKey(key: Uint8Array, what = 'key'): void {
  if (!(key instanceof Uint8Array)) throw new MvccError('E_BAD_REQUEST', `${what} is not a Uint8Array`);
  if (key.length === 0) throw new MvccError('E_BAD_REQUEST', `${what} is empty`);
  if (key.length > keyBytesMax) throw new MvccError('E_LIMIT', `${what} of ${key.length} bytes exceeds keyBytesMax (${keyBytesMax})`);
}

export function checkRange(key: Uint8Array, end: Uint8Array | undefined): void {
  checkKey(key);
  if (end === undefined) return;
  if (!(end instanceof Uint8Array)) throw new MvccError('E_BAD_REQUEST', 'range end is not a Uint8Array');
  if (end.length > keyBytesMax) throw new MvccError('E_LIMIT', `range end of ${end.length} bytes exceeds keyBytesMax (${keyBytesMax})`);
}

export function checkRangeOptions(options: RangeOptions | undefined): void {
  if (options === undefined) return;
  const { revision, limit } = options;
  if (revision !== undefined && !(Number.isSafeInteger(revision) && revision >= 0)) {
    throw new MvccError('E_BAD_REQUEST', `range revision ${revision} is not an integer >= 0`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new MvccError('E_BAD_REQUEST', `range limit ${limit} is not an integer >= 0`);
  }
}

function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new MvccError('E_BAD_REQUEST', 'value is not a Uint8Array');
  if (value.length > valueBytesMax) {
    throw new MvccError('E_LIMIT', `value of ${value.length} bytes exceeds valueBytesMax (${valueBytesMax})`);
  }
}

function checkCompare(c: Compare): void {
  checkKey(c.key, 'compare key');
  if (!['value', 'version', 'createRevision', 'modRevision', 'lease'].includes(c.target)) {
    throw new MvccError('E_BAD_REQUEST', `compare target ${String(c.target)} is unknown`);
  }
  if (!['equal', 'notEqual', 'greater', 'less'].includes(c.result)) {
    throw new MvccError('E_BAD_REQUEST', `compare result ${String(c.result)} is unknown`);
  }
  if (c.target === 'value') {
    if (!(c.value instanceof Uint8Array)) throw new MvccError('E_BAD_REQUEST', 'a value compare needs bytes');
    checkValue(c.value);
  } else if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value)) {
    throw new MvccError('E_BAD_REQUEST', `a ${c.target} compare needs an integer, got ${typeof c.value}`);
  }
}

function checkTxnOp(op: TxnOp): void {
  switch (op.type) {
    case 'range':
      checkRange(op.key, op.end);
      checkRangeOptions(op.options);
      return;
    case 'put':
      checkKey(op.key);
      checkValue(op.value);
      if (op.lease !== undefined) checkCount(op.lease, 'lease id', 0);
      if (op.ignoreLease === true && (op.lease ?? 0) !== 0) throw new MvccError('E_BAD_REQUEST', 'a put names a lease and asks to keep the key\'s lease (ignore_lease)');
      return;
    case 'deleteRange':
      checkRange(op.key, op.end);
      return;
    default:
      throw new MvccError('E_BAD_REQUEST', `transaction operation type ${String((op as { type: unknown }).type)} is not supported`);
  }
}

/** A branch may not write one key twice: two puts of a key, or a put inside a deleted range (as in etcd). */
function checkBranchWrites(ops: readonly TxnOp[], branch: string): void {
  const puts = new Set<string>();
  const deletes: KeySpan[] = [];
  for (const op of ops) {
    if (op.type === 'put') {
      const key = keyToString(op.key);
      if (puts.has(key)) throw new MvccError('E_BAD_REQUEST', `the ${branch} branch puts one key twice`);
      puts.add(key);
    } else if (op.type === 'deleteRange') {
      deletes.push(toSpan(op.key, op.end));
    }
  }
  for (const key of puts) {
    if (deletes.some((span) => spanContains(span, key))) {
      throw new MvccError('E_BAD_REQUEST', `the ${branch} branch puts a key it also deletes`);
    }
  }
}

function checkOpCount(count: number, what: string): void {
  if (count > txnOpsMax) throw new MvccError('E_LIMIT', `${count} ${what} exceed txnOpsMax (${txnOpsMax})`);
}

export function checkWriteOp(op: WriteOp): void {
  switch (op.type) {
    case 'put':
    case 'deleteRange':
      checkTxnOp(op);
      return;
    case 'txn':
      if (!Array.isArray(op.compare) || !Array.isArray(op.success) || !Array.isArray(op.failure)) {
        throw new MvccError('E_BAD_REQUEST', 'a transaction needs compare, success and failure lists');
      }
      checkOpCount(op.compare.length, 'compares');
      checkOpCount(op.success.length, 'success operations');
      checkOpCount(op.failure.length, 'failure operations');
      op.compare.forEach(checkCompare);
      op.success.forEach(checkTxnOp);
      op.failure.forEach(checkTxnOp);
      checkBranchWrites(op.success, 'success');
      checkBranchWrites(op.failure, 'failure');
      return;
    case 'compact':
      if (!(Number.isSafeInteger(op.revision) && op.revision >= 0)) {
        throw new MvccError('E_BAD_REQUEST', `compact revision ${op.revision} is not an integer >= 0`);
      }
      return;
    case 'leaseGrant':
    case 'leaseRevoke':
    case 'leaseKeepAlive':
    case 'leaseCheckpoint':
      checkLeaseOp(op);
      return;
    default:
      throw new MvccError('E_BAD_REQUEST', `operation type ${String((op as { type: unknown }).type)} is not supported`);
  }
}
