/**
 * The parts of the keyspace the KV API never hands to a client, decided by key range (a range that
 * merely overlaps one is refused, so a wide range, a prefix scan or a from-key read cannot reach in):
 *   - keys starting with a zero byte — Coffer's own records (members, audit checkpoints, the audit HMAC
 *     key): refused to everyone;
 *   - `/registry/` — the Kubernetes API's objects, Secrets included: reachable only by `system:masters`,
 *     because a raw write there would skip validation, the RBAC escalation check and redaction, and a
 *     raw read would skip the per-object `get` check.
 * Every key of a request is checked: range, put, delete, each txn operation and compare, watch.
 */
import { keyToString, prefixEnd, stringToKey, toSpan } from '../../storage/mvcc/index.ts';
import { ForbiddenError } from '../errors.ts';
import { type Caller, isMaster } from '../k8s/authorization.ts';

interface ReservedSpan {
  what: string;
  start: string;
  end: string;
  mastersMay: boolean;
}

const registryPrefix = '/registry/';

const reserved: readonly ReservedSpan[] = [
  { what: 'keys starting with a zero byte are reserved for Coffer', start: '\u0000', end: '\u0001', mastersMay: false },
  {
    what: `keys under ${registryPrefix} hold the Kubernetes API's objects; use that API (only system:masters may reach them here)`,
    start: registryPrefix, end: keyToString(prefixEnd(stringToKey(registryPrefix))), mastersMay: true,
  },
];

/** Throws ForbiddenError when [key, end) (etcd's range convention) reaches a part of the keyspace `caller` may not. */
export function checkKeyRange(caller: Caller, key: Uint8Array, end?: Uint8Array): void {
  const span = toSpan(key, end);
  const masters = isMaster(caller);
  for (const part of reserved) {
    if (part.mastersMay && masters) continue;
    const overlaps = span.end === undefined
      ? span.start >= part.start && span.start < part.end
      : span.start < part.end && (span.end === null || span.end > part.start);
    if (overlaps) throw new ForbiddenError(part.what);
  }
}
