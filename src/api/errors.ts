/**
 * Maps every expected error of the layers below, once, to an HTTP status and a gRPC-style code in the
 * etcd gateway's error shape `{error, code, message}`, and — where etcd's clients match the exact status
 * (clientv3 turns "etcdserver: mvcc: required revision has been compacted" into ErrCompacted) — to the
 * status etcd's gRPC API answers (`etcd`, used by grpc/status.ts). An unexpected error becomes a bare
 * 500 "internal error": internal messages never reach a client (they could name keys or paths).
 */
import { isMvccError, type MvccError } from '../storage/mvcc/index.ts';
import { isReplicationError, type ReplicationError } from '../replication/index.ts';
import { BodyInPiecesError, UnfinishedBodyError } from './body-intake.ts';
import { ForbiddenError } from './forbidden.ts';
import { HeldBytesError } from './held-bytes.ts';
import { etcdStatusOf, EtcdRequestError, permissionDenied } from './etcd-errors.ts';
import { BadFieldError } from './kv/json.ts';
import { TooManyWatchesError } from './watch-stream.ts';

export interface ApiError {
  status: number;
  /** gRPC status code, as etcd's gateway reports it. */
  code: number;
  message: string;
  /** What etcd's gRPC API answers for this error, where it differs from code and message. */
  etcd?: { code: number; message: string };
}

export const grpc = { invalidArgument: 3, deadlineExceeded: 4, notFound: 5, permissionDenied: 7, resourceExhausted: 8, failedPrecondition: 9, aborted: 10, outOfRange: 11, internal: 13, unavailable: 14, unauthenticated: 16 } as const;

export { ForbiddenError };

const internal: ApiError = { status: 500, code: grpc.internal, message: 'internal error' };

export function toApiError(error: unknown): ApiError {
  if (error instanceof BadFieldError) return { status: 400, code: grpc.invalidArgument, message: `invalid request: ${error.message}` };
  if (error instanceof ForbiddenError) return { status: 403, code: grpc.permissionDenied, message: error.message, etcd: { code: grpc.permissionDenied, message: permissionDenied } };
  if (error instanceof EtcdRequestError) return etcdRequestError(error.message);
  if (error instanceof TooManyWatchesError || error instanceof HeldBytesError) return { status: 429, code: grpc.resourceExhausted, message: error.message };
  if (error instanceof UnfinishedBodyError) return { status: 400, code: grpc.invalidArgument, message: error.message };
  if (error instanceof BodyInPiecesError) return { status: 413, code: grpc.resourceExhausted, message: error.message };
  if (isMvccError(error)) return mvccError(error);
  if (isReplicationError(error)) return replicationError(error);
  const fastifyCode = (error as { code?: unknown } | null)?.code;
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, code: grpc.resourceExhausted, message: 'request body too large' };
  if (typeof fastifyCode === 'string' && fastifyCode.startsWith('FST_ERR_CTP')) return { status: 400, code: grpc.invalidArgument, message: 'request body is not valid JSON' };
  if ((error as { statusCode?: unknown } | null)?.statusCode === 400) return { status: 400, code: grpc.invalidArgument, message: 'malformed request' };
  return internal;
}

function mvccError(error: MvccError): ApiError {
  switch (error.code) {
    case 'E_COMPACTED': return {
      status: 400, code: grpc.outOfRange, message: `mvcc: required revision has been compacted (compact revision ${error.compactRevision ?? 0})`,
      etcd: { code: grpc.outOfRange, message: 'etcdserver: mvcc: required revision has been compacted' },
    };
    case 'E_FUTURE_REV': return {
      status: 400, code: grpc.outOfRange, message: 'mvcc: required revision is a future revision',
      etcd: { code: grpc.outOfRange, message: 'etcdserver: mvcc: required revision is a future revision' },
    };
    case 'E_LIMIT': return { status: 400, code: grpc.invalidArgument, message: error.message, ...etcdLimit(error.message) };
    case 'E_BAD_REQUEST': return { status: 400, code: grpc.invalidArgument, message: error.message, ...etcdBadRequest(error.message) };
    case 'E_CLOSED': return { status: 503, code: grpc.unavailable, message: 'the member is shutting down' };
    case 'E_LEASE_NOT_FOUND': return { status: 404, code: grpc.notFound, message: 'etcdserver: requested lease not found' };
    case 'E_LEASE_EXISTS': return { status: 409, code: grpc.failedPrecondition, message: 'etcdserver: lease already exists' };
    // A revoke raced a write that attached (or detached) a key after the keys were checked: nothing was deleted.
    case 'E_LEASE_KEYS_CHANGED': return { status: 409, code: grpc.aborted, message: "the lease's keys changed since they were checked; retry" };
    // Another user's lease, found so when the request applied (a lease revoked and granted again meanwhile).
    case 'E_LEASE_NOT_OWNED': return { status: 403, code: grpc.permissionDenied, message: `etcdserver: permission denied: ${error.message}` };
    case 'E_LEASE_QUOTA': return { status: 429, code: grpc.resourceExhausted, message: error.message };
    // Other callers' watches hold every watcher: this one may be served once some end, as etcd's clients retry a RESOURCE_EXHAUSTED.
    case 'E_WATCHERS_FULL': return { status: 429, code: grpc.resourceExhausted, message: error.message };
    default: return internal;
  }
}

/**
 * etcd's answer to a request the store refuses, where its clients match the text: the store's message
 * holds etcd's words (mvcc/validate.ts, apply.ts; etcd-errors.ts), or is the duplicate key etcd names alike.
 */
function etcdBadRequest(message: string): Pick<ApiError, 'etcd'> {
  const etcd = etcdStatusOf(message);
  if (etcd !== undefined) return { etcd };
  if (message.startsWith('duplicate key given in txn request')) return { etcd: { code: grpc.invalidArgument, message: 'etcdserver: duplicate key given in txn request' } };
  return {};
}

/** A request etcd refuses in the same words on its gateway as on gRPC (an empty key): the HTTP status its code stands for. */
function etcdRequestError(message: string): ApiError {
  const etcd = etcdStatusOf(message) ?? { code: grpc.invalidArgument, message };
  const status = etcd.code === grpc.notFound ? 404 : etcd.code === grpc.failedPrecondition ? 409 : 400;
  return { status, code: etcd.code, message: etcd.message, etcd };
}

/** etcd's answers to the limits its clients know by name. */
function etcdLimit(message: string): Pick<ApiError, 'etcd'> {
  if (/txnOps(Total)?Max/.test(message)) return { etcd: { code: grpc.invalidArgument, message: 'etcdserver: too many operations in txn request' } };
  if (/leaseTtlSecondsMax/.test(message)) return { etcd: { code: grpc.outOfRange, message: 'etcdserver: too large lease TTL' } };
  return {};
}

function replicationError(error: ReplicationError): ApiError {
  switch (error.code) {
    case 'E_UNAVAILABLE': return {
      status: 503, code: grpc.unavailable, message: 'no leader: the request was not accepted; retry',
      etcd: { code: grpc.unavailable, message: 'etcdserver: no leader' },
    };
    case 'E_TIMEOUT': return {
      status: 504, code: grpc.deadlineExceeded, message: 'request timed out; its outcome is unknown',
      etcd: { code: grpc.unavailable, message: 'etcdserver: request timed out' },
    };
    case 'E_REMOVED': return { status: 410, code: grpc.failedPrecondition, message: 'the member has been removed from the cluster' };
    case 'E_STOPPED': return {
      status: 503, code: grpc.unavailable, message: 'the member is stopped',
      etcd: { code: grpc.unavailable, message: 'etcdserver: server stopped' },
    };
    case 'E_BAD_REQUEST': return { status: 400, code: grpc.failedPrecondition, message: error.message, ...etcdOf(error.message) };
    case 'E_MEMBER_NOT_FOUND': return { status: 404, code: grpc.notFound, message: error.message, ...etcdOf(error.message) };
    case 'E_PEER_URL_EXISTS': return { status: 409, code: grpc.failedPrecondition, message: error.message, ...etcdOf(error.message) };
    // etcd's ErrGRPCNoSpace; the HTTP answer is 507 Insufficient Storage.
    case 'E_NO_SPACE': return { status: 507, code: grpc.resourceExhausted, message: error.message, ...etcdOf(error.message) };
    default: return internal;
  }
}

/** etcd's status where `message` names one of its conditions (etcd-errors.ts). */
function etcdOf(message: string): Pick<ApiError, 'etcd'> {
  const etcd = etcdStatusOf(message);
  return etcd === undefined ? {} : { etcd };
}

export function errorBody(error: ApiError): { error: string; code: number; message: string } {
  return { error: error.message, code: error.code, message: error.message };
}
