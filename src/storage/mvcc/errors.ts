/**
 * Expected MVCC conditions as one typed error with a stable `code`. Messages name revisions, limits and
 * sizes — never a key name or a value, which are secret material at rest.
 */
import { CofferError } from '../../base/index.ts';

export type MvccErrorCode =
  /** A revision older than the compact revision was asked for; `compactRevision` says where history starts. */
  | 'E_COMPACTED'
  /** A revision newer than the store's current revision was asked for. */
  | 'E_FUTURE_REV'
  /** A request breaks a named limit (key bytes, value bytes, operations per txn, range bytes). */
  | 'E_LIMIT'
  /** The member's watchers are all taken (watchersMax): the same watch may be served once others end. */
  | 'E_WATCHERS_FULL'
  /** A request is malformed (bad range, negative revision, duplicate key in one txn). */
  | 'E_BAD_REQUEST'
  /** A stored page failed to open (flipped bit, swapped or missing page); `revision` names it. */
  | 'E_INTEGRITY'
  /** The store's records contradict each other (e.g. an interrupted snapshot import). */
  | 'E_CORRUPT'
  /** The store was closed. */
  | 'E_CLOSED'
  /** An earlier write failed; the in-memory index may be ahead of disk, so the store must be reopened. */
  | 'E_FAILED'
  /** A watcher fell behind by more than its buffer and was cancelled (it never blocks writers). */
  | 'E_WATCH_SLOW'
  /** A request names a lease the store does not hold (never granted, revoked or expired). */
  | 'E_LEASE_NOT_FOUND'
  /** A grant asks for a lease id that is taken. */
  | 'E_LEASE_EXISTS'
  /** A revoke's checked keys (LeaseRevokeRequest.ifKeys) are not the lease's keys any more: a key was attached or left since. */
  | 'E_LEASE_KEYS_CHANGED'
  /** A request names a lease another user owns (LeaseGrantRequest.owner). */
  | 'E_LEASE_NOT_OWNED'
  /** A grant would give its owner more than leasesPerOwnerMax leases. */
  | 'E_LEASE_QUOTA';

export class MvccError extends CofferError {
  readonly code: MvccErrorCode;
  /** For E_COMPACTED: the compact revision; history is complete only after it. */
  readonly compactRevision: number | undefined;
  /** For E_INTEGRITY: the main revision of the page that failed to open (0 for the meta record). */
  readonly revision: number | undefined;

  constructor(
    code: MvccErrorCode,
    message: string,
    options?: { cause?: unknown; compactRevision?: number; revision?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.compactRevision = options?.compactRevision;
    this.revision = options?.revision;
  }
}

export function isMvccError(error: unknown, code?: MvccErrorCode): error is MvccError {
  return error instanceof MvccError && (code === undefined || error.code === code);
}

export function compactedError(asked: number, compactRevision: number): MvccError {
  return new MvccError('E_COMPACTED', `revision ${asked} has been compacted; the compact revision is ${compactRevision}`, {
    compactRevision,
  });
}
