/**
 * Kubernetes `Status` objects for every error on the resource and discovery paths. The mapping is an
 * allowlist: registry and RBAC errors carry messages written for clients (names and fields, never
 * values); anything unexpected becomes a bare "Internal error occurred" — internal messages never
 * reach a client.
 */
import { CofferError } from '../../base/index.ts';
import { isRegistryError, type StatusDetails } from '../../registry/index.ts';
import { isMvccError } from '../../storage/mvcc/index.ts';
import { isReplicationError } from '../../replication/index.ts';
import { TooManyWatchesError } from '../watch-stream.ts';
import { HeldBytesError } from '../held-bytes.ts';
import { BodyInPiecesError, UnfinishedBodyError } from '../body-intake.ts';
import { NotAcceptableError } from './negotiation.ts';

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export function status(code: number, reason: string, message: string, details?: StatusDetails): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details: copyDetails(details) } : {}), code };
}

/** A request refused by RBAC, in the words of Kubernetes' authorizer. */
export class K8sForbiddenError extends CofferError {
  readonly code = 'E_FORBIDDEN';
  constructor(message: string, readonly details: StatusDetails = {}) {
    super(message);
  }
}

const registryStatus: Record<string, { code: number; reason: string }> = {
  NotFound: { code: 404, reason: 'NotFound' },
  AlreadyExists: { code: 409, reason: 'AlreadyExists' },
  Conflict: { code: 409, reason: 'Conflict' },
  Invalid: { code: 422, reason: 'Invalid' },
  BadRequest: { code: 400, reason: 'BadRequest' },
  Expired: { code: 410, reason: 'Expired' },
  Timeout: { code: 504, reason: 'Timeout' },
  RequestEntityTooLarge: { code: 413, reason: 'RequestEntityTooLarge' },
  MethodNotAllowed: { code: 405, reason: 'MethodNotAllowed' },
  Forbidden: { code: 403, reason: 'Forbidden' },
};

export function toStatus(error: unknown): StatusObject {
  if (isRegistryError(error)) {
    const mapped = registryStatus[error.code] ?? { code: 500, reason: 'InternalError' };
    return status(mapped.code, mapped.reason, error.message, error.details);
  }
  if (error instanceof K8sForbiddenError) return status(403, 'Forbidden', error.message, error.details);
  if (error instanceof TooManyWatchesError || error instanceof HeldBytesError) return status(429, 'TooManyRequests', error.message);
  if (error instanceof UnfinishedBodyError) return status(400, 'BadRequest', error.message);
  if (error instanceof BodyInPiecesError) return status(413, 'RequestEntityTooLarge', error.message);
  if (error instanceof NotAcceptableError) return status(406, 'NotAcceptable', error.message);
  if ((error as { code?: unknown } | null)?.code === 'E_FORBIDDEN') return status(403, 'Forbidden', (error as Error).message);
  if (isMvccError(error)) {
    if (error.code === 'E_COMPACTED') return status(410, 'Expired', `too old resource version (compacted at ${error.compactRevision ?? 0})`);
    // A watcher that fell too far behind must list again, which is what clients do on 410.
    if (error.code === 'E_WATCH_SLOW') return status(410, 'Expired', 'the watch fell too far behind; list again and watch from the new resourceVersion');
    if (error.code === 'E_FUTURE_REV') return status(504, 'Timeout', 'Too large resource version');
    if (error.code === 'E_CLOSED') return status(503, 'ServiceUnavailable', 'the member is shutting down');
    // The store's message names the limit and the sizes (never a key or value).
    if (error.code === 'E_LIMIT') return status(413, 'RequestEntityTooLarge', error.message);
    // Every watcher is taken by others: a capacity, not this request's size (client-go retries a 429).
    if (error.code === 'E_WATCHERS_FULL') return status(429, 'TooManyRequests', error.message);
  }
  if (isReplicationError(error)) {
    switch (error.code) {
      case 'E_UNAVAILABLE': return status(503, 'ServiceUnavailable', 'no leader: the request was not accepted; retry');
      case 'E_TIMEOUT': return status(504, 'Timeout', 'request timed out; its outcome is unknown');
      case 'E_REMOVED': return status(503, 'ServiceUnavailable', 'the member has been removed from the cluster');
      case 'E_STOPPED': return status(503, 'ServiceUnavailable', 'the member is stopped');
      // The store is past a member's quota (NOSPACE alarm): etcd's words, as kube-apiserver passes them on.
      case 'E_NO_SPACE': return status(507, 'InternalError', error.message);
      default: break;
    }
  }
  const fastifyCode = (error as { code?: unknown } | null)?.code;
  if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return status(415, 'UnsupportedMediaType', 'the body must be JSON (application/json or a +json patch type), or YAML for server-side apply (application/apply-patch+yaml)');
  }
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') return status(413, 'RequestEntityTooLarge', 'the request body is larger than the server accepts');
  if (typeof fastifyCode === 'string' && fastifyCode.startsWith('FST_ERR_CTP')) return status(400, 'BadRequest', 'the request body is not valid JSON');
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (statusCode === 400) return status(400, 'BadRequest', 'malformed request');
  if (statusCode === 415) return status(415, 'UnsupportedMediaType', 'unsupported media type');
  return status(500, 'InternalError', 'Internal error occurred: internal error');
}

/** Details rebuilt from known fields only. */
function copyDetails(details: StatusDetails): StatusDetails {
  const out: StatusDetails = {};
  if (details.name !== undefined) out.name = details.name;
  if (details.group !== undefined) out.group = details.group;
  if (details.kind !== undefined) out.kind = details.kind;
  if (details.causes !== undefined) {
    out.causes = details.causes.map((c) => ({ ...(c.reason !== undefined ? { reason: c.reason } : {}), message: c.message, field: c.field }));
  }
  if (details.retryAfterSeconds !== undefined) out.retryAfterSeconds = details.retryAfterSeconds;
  return out;
}
