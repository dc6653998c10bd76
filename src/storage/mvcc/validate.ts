/**
 * Boundary checks for requests: every limit named in config/limits.ts, checked before anything
 * changes, with an error naming the limit and the offending size (never the key or value itself).
 */
import { Buffer } from 'node:buffer';
import {
  keyBytesMax, leaseCheckpointBatchMax, leaseOwnerBytesMax, leaseTtlSecondsMax, txnNestingLevelsMax, txnOpsMax, txnOpsTotalMax, valueBytesMax,
} from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { type KeySpan, keyToString, spanContains, toSpan } from './keys.ts';
import type { Compare, LeaseOp, RangeOptions, TxnOp, TxnRequest, WriteOp } from './types.ts';

function checkCount(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new MvccError('E_BAD_REQUEST', `${what} ${String(value)} is not an integer in [${min}, ${max}]`);
  }
}

/** A lease owner's name (LeaseGrantRequest.owner), when given: a string of 1 to leaseOwnerBytesMax bytes. */
export function checkLeaseOwner(owner: unknown, what = 'lease owner'): void {
  if (owner === undefined) return;
  if (typeof owner !== 'string' || owner.length === 0) throw new MvccError('E_BAD_REQUEST', `${what} is not a user name`);
  const bytes = Buffer.byteLength(owner);
  if (bytes > leaseOwnerBytesMax) throw new MvccError('E_LIMIT', `${what} of ${bytes} bytes exceeds leaseOwnerBytesMax (${leaseOwnerBytesMax})`);
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
      checkLeaseOwner(op.owner);
      return;
    case 'leaseRevoke':
      checkCount(op.id, 'lease id', 1);
      checkLeaseOwner(op.ifOwner);
      if (op.ifRefreshes !== undefined) checkCount(op.ifRefreshes, 'lease refresh count', 0);
      if (op.ifKeys !== undefined) {
        if (typeof op.ifKeys !== 'object' || op.ifKeys === null) throw new MvccError('E_BAD_REQUEST', 'the keys a revoke checked are not a count and a digest');
        checkCount(op.ifKeys.count, 'count of the lease keys a revoke checked', 0);
        if (typeof op.ifKeys.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(op.ifKeys.sha256)) {
          throw new MvccError('E_BAD_REQUEST', 'the digest of the lease keys a revoke checked is not a SHA-256 in lowercase hex');
        }
      }
      return;
    case 'leaseKeepAlive':
      checkCount(op.id, 'lease id', 1);
      checkLeaseOwner(op.ifOwner);
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
  if (c.end === undefined) checkKey(c.key, 'compare key');
  else checkRange(c.key, c.end);
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

/** etcd's words for a put that names what it asks to keep (its clients match them: api/errors.ts). */
export const putLeaseProvided = 'a put names a lease and asks to keep the key\'s lease (ignore_lease): etcdserver: lease is provided';
export const putValueProvided = 'a put carries a value and asks to keep the key\'s value (ignore_value): etcdserver: value is provided';

function checkTxnOp(op: Exclude<TxnOp, TxnRequest>): void {
  switch (op.type) {
    case 'range':
      checkRange(op.key, op.end);
      checkRangeOptions(op.options);
      return;
    case 'put':
      checkKey(op.key);
      checkValue(op.value);
      if (op.lease !== undefined) checkCount(op.lease, 'lease id', 0);
      checkLeaseOwner(op.ifLeaseOwner);
      if (op.ignoreLease === true && (op.lease ?? 0) !== 0) throw new MvccError('E_BAD_REQUEST', putLeaseProvided);
      if (op.ignoreValue === true && op.value.length > 0) throw new MvccError('E_BAD_REQUEST', putValueProvided);
      return;
    case 'deleteRange':
      checkRange(op.key, op.end);
      return;
    default:
      throw new MvccError('E_BAD_REQUEST', `transaction operation type ${String((op as { type: unknown }).type)} is not supported`);
  }
}

/** Refuses a transaction `level` levels deep (the outermost is level 1); decoders call it too, before they recurse. */
export function checkTxnNesting(level: number): void {
  if (level > txnNestingLevelsMax) {
    throw new MvccError('E_LIMIT', `a transaction nested ${level} levels deep exceeds txnNestingLevelsMax (${txnNestingLevelsMax})`);
  }
}

/**
 * A transaction and every one nested in it. `opsLeft` is what txnOpsMax leaves at this level: as in etcd
 * (checkTxnRequest), the widest list of each level counts against the levels inside it; `counted` adds
 * up every compare and operation of the whole request against txnOpsTotalMax.
 */
function checkTxn(op: TxnRequest, level: number, opsLeft: number, counted: { ops: number }): void {
  checkTxnNesting(level);
  if (!Array.isArray(op.compare) || !Array.isArray(op.success) || !Array.isArray(op.failure)) {
    throw new MvccError('E_BAD_REQUEST', 'a transaction needs compare, success and failure lists');
  }
  const lists = [[op.compare.length, 'compares'], [op.success.length, 'success operations'], [op.failure.length, 'failure operations']] as const;
  const [width, what] = lists.reduce((widest, list) => (list[0] > widest[0] ? list : widest));
  if (width > opsLeft) {
    throw new MvccError('E_LIMIT', level === 1 ? `${width} ${what} exceed txnOpsMax (${txnOpsMax})`
      : `${width} ${what} of a transaction nested ${level} levels deep exceed the ${opsLeft} that txnOpsMax (${txnOpsMax}) leaves inside the transactions around it`);
  }
  counted.ops += op.compare.length + op.success.length + op.failure.length;
  if (counted.ops > txnOpsTotalMax) throw new MvccError('E_LIMIT', `the transaction and those nested in it carry more than txnOpsTotalMax (${txnOpsTotalMax}) compares and operations`);
  op.compare.forEach(checkCompare);
  for (const child of [...op.success, ...op.failure]) {
    if (child.type === 'txn') checkTxn(child, level + 1, opsLeft - width, counted);
    else checkTxnOp(child);
  }
}

/** What a list of operations may write on some path through it: the keys it puts and the spans it deletes. */
interface Writes {
  puts: Set<string>;
  deletes: KeySpan[];
}

/** etcd's words first: its clients match them (src/api/grpc/status.ts). Never the key itself. */
function duplicateKey(branch: string, problem: string): MvccError {
  return new MvccError('E_BAD_REQUEST', `duplicate key given in txn request: a path through the ${branch} branch ${problem}`);
}

/**
 * What `ops` may write, refusing a list in which one path would put a key twice or put a key it also
 * deletes (etcd's rule, checkIntervals). The operations of one list all run, so their writes may not
 * meet; the two branches of a nested transaction exclude each other, so theirs may (a key put in both is
 * fine). etcd checks a delete in an earlier nested transaction against a put in a later one but not the
 * reverse order; Coffer refuses both.
 */
function pathWrites(ops: readonly TxnOp[], branch: string): Writes {
  const all: Writes = { puts: new Set(), deletes: [] };
  for (const op of ops) {
    const mine = opWrites(op, branch);
    for (const key of mine.puts) {
      if (all.puts.has(key)) throw duplicateKey(branch, 'puts one key twice');
      if (all.deletes.some((span) => spanContains(span, key))) throw duplicateKey(branch, 'deletes a key and then puts it');
    }
    for (const key of all.puts) {
      if (mine.deletes.some((span) => spanContains(span, key))) throw duplicateKey(branch, 'puts a key and then deletes it');
    }
    for (const key of mine.puts) all.puts.add(key);
    all.deletes.push(...mine.deletes);
  }
  return all;
}

function opWrites(op: TxnOp, branch: string): Writes {
  switch (op.type) {
    case 'put':
      return { puts: new Set([keyToString(op.key)]), deletes: [] };
    case 'deleteRange':
      return { puts: new Set(), deletes: [toSpan(op.key, op.end)] };
    case 'range':
      return { puts: new Set(), deletes: [] };
    case 'txn': {
      const success = pathWrites(op.success, branch);
      const failure = pathWrites(op.failure, branch);
      return { puts: new Set([...success.puts, ...failure.puts]), deletes: [...success.deletes, ...failure.deletes] };
    }
  }
}

export function checkWriteOp(op: WriteOp): void {
  switch (op.type) {
    case 'put':
    case 'deleteRange':
      checkTxnOp(op);
      return;
    case 'txn':
      checkTxn(op, 1, txnOpsMax, { ops: 0 });
      pathWrites(op.success, 'success');
      pathWrites(op.failure, 'failure');
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
