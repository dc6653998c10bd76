/**
 * etcd's error descriptions that its clients match by text (etcd 3.4's api/v3rpc/rpctypes/error.go):
 * clientv3 turns a gRPC status into its typed error (rpctypes.ErrPermissionDenied, ErrEmptyKey, …) only
 * when the status's description is exactly etcd's, so a Coffer answer to the same condition carries
 * exactly that description and code. Coffer's messages name the condition with etcd's words and add
 * what is useful to a human (`etcdserver: permission denied: user "bob" may not get this key`);
 * `etcdStatusOf` finds etcd's words in such a message, and the rest travels beside the status
 * (grpc/status.ts) and stays in the audit record.
 */
import { CofferError } from '../base/index.ts';

/** gRPC status codes etcd answers these with. */
const code = { invalidArgument: 3, notFound: 5, permissionDenied: 7, resourceExhausted: 8, failedPrecondition: 9, outOfRange: 11, unavailable: 14 } as const;

/** Each description etcd's clients match, with its gRPC code. */
const etcdDescriptions: ReadonlyMap<string, number> = new Map([
  ['etcdserver: key is not provided', code.invalidArgument],
  ['etcdserver: key not found', code.invalidArgument],
  ['etcdserver: value is provided', code.invalidArgument],
  ['etcdserver: lease is provided', code.invalidArgument],
  ['etcdserver: too many operations in txn request', code.invalidArgument],
  ['etcdserver: duplicate key given in txn request', code.invalidArgument],
  ['etcdserver: mvcc: required revision has been compacted', code.outOfRange],
  ['etcdserver: mvcc: required revision is a future revision', code.outOfRange],
  ['etcdserver: mvcc: database space exceeded', code.resourceExhausted],
  ['etcdserver: requested lease not found', code.notFound],
  ['etcdserver: lease already exists', code.failedPrecondition],
  ['etcdserver: too large lease TTL', code.outOfRange],
  ['etcdserver: member ID already exist', code.failedPrecondition],
  ['etcdserver: Peer URLs already exists', code.failedPrecondition],
  ['etcdserver: re-configuration failed due to not enough started members', code.failedPrecondition],
  ['etcdserver: given member URLs are invalid', code.invalidArgument],
  ['etcdserver: member not found', code.notFound],
  ['etcdserver: can only promote a learner member', code.failedPrecondition],
  ['etcdserver: can only promote a learner member which is in sync with leader', code.failedPrecondition],
  ['etcdserver: too many learner members in cluster', code.failedPrecondition],
  ['etcdserver: request is too large', code.invalidArgument],
  ['etcdserver: too many requests', code.resourceExhausted],
  ['etcdserver: permission denied', code.permissionDenied],
  ['etcdserver: no leader', code.unavailable],
  ['etcdserver: not leader', code.failedPrecondition],
  ['etcdserver: leader changed', code.unavailable],
  ['etcdserver: server stopped', code.unavailable],
  ['etcdserver: request timed out', code.unavailable],
  ['etcdserver: bad leader transferee', code.failedPrecondition],
]);

export const permissionDenied = 'etcdserver: permission denied';
export const emptyKey = 'etcdserver: key is not provided';
export const leaseNotFound = 'etcdserver: requested lease not found';

/**
 * etcd's status for a message that names an etcd condition: the message is etcd's description, or
 * begins with it followed by ':' or ' (' (Coffer's detail after it), or ends with ': ' and it (Coffer's
 * context before it). The longest description that fits wins (a learner "which is in sync" over any learner).
 */
export function etcdStatusOf(message: string): { code: number; message: string } | undefined {
  let found: string | undefined;
  for (const description of etcdDescriptions.keys()) {
    const fits = message === description || message.startsWith(`${description}:`) || message.startsWith(`${description} (`) || message.endsWith(`: ${description}`);
    if (fits && (found === undefined || description.length > found.length)) found = description;
  }
  return found === undefined ? undefined : { code: etcdDescriptions.get(found)!, message: found };
}

/** A request etcd refuses with one of its descriptions (an empty key): the same words on every dialect. */
export class EtcdRequestError extends CofferError {
  readonly code = 'E_ETCD_REQUEST';
}
