/**
 * The parts of the keyspace the KV API never hands to a client, decided by key range:
 *   - keys starting with a zero byte — Coffer's own records (members, alarms, audit checkpoints, the
 *     audit HMAC key): invisible to everyone. A range that reaches past them — etcd's "all keys" (key
 *     [0x00], range_end [0x00], as `etcdctl get "" --prefix` / `--from-key`, `watch --prefix ''` and
 *     `del "" --prefix` send), or any range starting among them and ending after them — is cut to start
 *     after them (withoutOwnKeys), so they are simply absent from its answer, its count, its delete and
 *     its watch events; one of them, or a range entirely among them, is refused;
 *   - `/registry/` — the Kubernetes API's objects, Secrets included: reachable only by `system:masters`,
 *     because a raw write there would skip validation, the RBAC escalation check and redaction, and a
 *     raw read would skip the per-object `get` check. A range that merely overlaps it is refused (the
 *     cut range of "all keys" too), so a wide range, a prefix scan or a from-key read cannot reach in.
 * Every key of a request is checked (checkKeyRange: range, put, delete, each txn operation and compare,
 * watch), and the KV API reaches the store only through hidingOwnKeys, which cuts every range it runs
 * (Range, DeleteRange, txn compares and operations at any depth, Watch) the same way: the check and what
 * runs are the same range.
 */
import { keyToString, prefixEnd, stringToKey, toSpan, type TxnOp, type WriteOp } from '../../storage/mvcc/index.ts';
import { ForbiddenError } from '../errors.ts';
import { type Caller, isMaster } from '../k8s/authorization.ts';
import type { KvBackend, MvccReader } from './backend.ts';

interface ReservedSpan {
  what: string;
  start: string;
  end: string;
  mastersMay: boolean;
}

const registryPrefix = '/registry/';
/** The first key after Coffer's own, in latin1 form (as toSpan gives keys). */
const ownKeysEnd = '\u0001';

const reserved: readonly ReservedSpan[] = [
  { what: 'keys starting with a zero byte are reserved for Coffer', start: '\u0000', end: ownKeysEnd, mastersMay: false },
  {
    what: `keys under ${registryPrefix} hold the Kubernetes API's objects; use that API (only system:masters may reach them here)`,
    start: registryPrefix, end: keyToString(prefixEnd(stringToKey(registryPrefix))), mastersMay: true,
  },
];

interface KeyRange { key: Uint8Array; end?: Uint8Array | undefined }

/**
 * `range` ([key, end), etcd's convention) without Coffer's own keys: one that starts among them and
 * reaches past them starts after them instead (key [0x01], end unchanged). Anything else — one key, a
 * range entirely among them (checkKeyRange refuses it), a range after them — comes back as it is.
 */
export function withoutOwnKeys<R extends KeyRange>(range: R): R {
  const span = toSpan(range.key, range.end);
  if (span.end === undefined || span.start >= ownKeysEnd) return range;
  if (span.end !== null && span.end <= ownKeysEnd) return range;
  return { ...range, key: Uint8Array.of(1) };
}

/**
 * Throws ForbiddenError when [key, end) (etcd's range convention), cut by withoutOwnKeys, reaches a part
 * of the keyspace `caller` may not; returns the cut range, the one to authorize and to run.
 */
export function checkKeyRange(caller: Caller, key: Uint8Array, end?: Uint8Array): KeyRange {
  const visible = withoutOwnKeys({ key, end });
  const span = toSpan(visible.key, visible.end);
  const masters = isMaster(caller);
  for (const part of reserved) {
    if (part.mastersMay && masters) continue;
    const overlaps = span.end === undefined
      ? span.start >= part.start && span.start < part.end
      : span.start < part.end && (span.end === null || span.end > part.start);
    if (overlaps) throw new ForbiddenError(part.what);
  }
  return visible;
}

/** `op` with every range in it cut by withoutOwnKeys (the same object when none is). */
function hideIn<T extends WriteOp | TxnOp>(op: T): T {
  if (op.type === 'deleteRange' || op.type === 'range') return withoutOwnKeys(op) as T;
  if (op.type !== 'txn') return op;
  const compare = op.compare.map((c) => withoutOwnKeys(c));
  const success = op.success.map((o) => hideIn(o));
  const failure = op.failure.map((o) => hideIn(o));
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.every((x, i) => x === b[i]);
  if (same(compare, op.compare) && same(success, op.success) && same(failure, op.failure)) return op;
  return { ...op, compare, success, failure };
}

/**
 * The store as the KV API runs requests on it: every range a read, a delete, a transaction (compares
 * and operations, nested ones too, proposed or served as a read) or a watch names is cut by
 * withoutOwnKeys, so Coffer's own keys are never read, counted, compared, deleted or watched through it,
 * whatever the request (or a check that let it through) said. The rest of `backend` is passed through:
 * a method added to KvBackend that runs a client's range must be cut here too.
 */
export function hidingOwnKeys(backend: KvBackend): KvBackend {
  const readers = new WeakMap<MvccReader, MvccReader>();
  return {
    ...backend,
    propose: (op, ...audit) => backend.propose(hideIn(op), ...audit),
    readTxn: (op, options) => backend.readTxn(hideIn(op), options),
    range: (key, end, options) => {
      const visible = withoutOwnKeys({ key, end });
      return backend.range(visible.key, visible.end, options);
    },
    mvcc: () => {
      const reader = backend.mvcc();
      let hiding = readers.get(reader);
      if (hiding === undefined) {
        hiding = Object.freeze({
          ...reader,
          range: (key, end, options) => {
            const visible = withoutOwnKeys({ key, end });
            return reader.range(visible.key, visible.end, options);
          },
          watch: (options) => reader.watch(withoutOwnKeys(options)),
        });
        readers.set(reader, hiding);
      }
      return hiding;
    },
  };
}
