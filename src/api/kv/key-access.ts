/**
 * Who may touch which keys through the KV API: first Coffer's reserved keyspace (reserved.ts, refused
 * whatever a rule grants), then the caller's RBAC rules on `kvkeys` (src/rbac/key-ranges.ts: key
 * prefixes, default deny), applied to the range as reserved.ts cuts it (etcd's "all keys" starts after
 * Coffer's own keys). `system:masters` holds every key range outside the reserved part.
 */
import { type CompiledPolicy, type KeyRangeVerb, authorizeKeyRange } from '../../rbac/index.ts';
import { toSpan } from '../../storage/mvcc/index.ts';
import { ForbiddenError } from '../errors.ts';
import { type Caller, isMaster } from '../k8s/authorization.ts';
import { checkKeyRange } from './reserved.ts';

/** Throws ForbiddenError unless `caller` may `verb` every key of [key, end) (etcd's range convention). */
export function checkKeyAccess(policy: CompiledPolicy, caller: Caller, verb: KeyRangeVerb, key: Uint8Array, end?: Uint8Array): void {
  const visible = checkKeyRange(caller, key, end);
  if (isMaster(caller)) return;
  const span = toSpan(visible.key, visible.end);
  if (authorizeKeyRange(policy, { user: caller.user, groups: caller.groups, verb, start: span.start, end: span.end })) return;
  throw new ForbiddenError(`etcdserver: permission denied: user ${JSON.stringify(caller.user)} may not ${verb} ${span.end === undefined ? 'this key' : 'this key range'} (RBAC: ${verb} on kvkeys in coffer.dev, default deny)`);
}

/** Reading the range of a request: `get` for one key, `list` for a range. */
export function readVerb(end: Uint8Array | undefined): KeyRangeVerb {
  return end === undefined || end.length === 0 ? 'get' : 'list';
}
