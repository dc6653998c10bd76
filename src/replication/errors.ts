/**
 * Expected conditions of the replication layer, each with a stable code the API maps to a status:
 * E_UNAVAILABLE (no leader, proposal dropped: retry), E_TIMEOUT (the outcome is unknown: the write may
 * still commit), E_REMOVED (this member left the cluster), E_STOPPED (shutting down or failed),
 * E_BAD_REQUEST (a membership request that cannot be carried out as asked), E_MEMBER_NOT_FOUND (no
 * such member) and E_PEER_URL_EXISTS (another member has that peer URL), answered with etcd's messages.
 */
import { CofferError } from '../base/index.ts';

export type ReplicationErrorCode = 'E_UNAVAILABLE' | 'E_TIMEOUT' | 'E_REMOVED' | 'E_STOPPED' | 'E_BAD_REQUEST' | 'E_MEMBER_NOT_FOUND'
  | 'E_PEER_URL_EXISTS'
  /** A write that adds data while a NOSPACE alarm stands (alarms.ts). */
  | 'E_NO_SPACE';

export class ReplicationError extends CofferError {
  constructor(readonly code: ReplicationErrorCode, message: string) {
    super(message);
  }
}

export function isReplicationError(error: unknown, code?: ReplicationErrorCode): error is ReplicationError {
  return error instanceof ReplicationError && (code === undefined || error.code === code);
}
