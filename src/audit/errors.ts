/**
 * Expected audit conditions, each with a stable `code`. Messages name files, sequence numbers and
 * fields, never an event's content beyond its identifiers, and never a secret value.
 */
import { CofferError } from '../base/index.ts';

export type AuditErrorCode = 'E_AUDIT_UNAVAILABLE' | 'E_AUDIT_POLICY' | 'E_AUDIT_KEY' | 'E_AUDIT_QUERY';

export abstract class AuditError extends CofferError {
  abstract override readonly code: AuditErrorCode;
}

/**
 * A record could not be made durable (directory missing or not writable, disk full, fsync failed) or
 * the log is closed. The request that asked for it must fail with 503 and change nothing.
 */
export class AuditUnavailableError extends AuditError {
  readonly code = 'E_AUDIT_UNAVAILABLE';
}

/**
 * One record the log cannot hold as it is — too long even without its bodies, or a value it cannot
 * write — while it takes other records. The request still fails closed (it is an
 * AuditUnavailableError), but its caller can record the request without the part that failed
 * (src/api/audit-plugin.ts), so such a request is never left unrecorded.
 */
export class AuditRecordRefusedError extends AuditUnavailableError {}

/** An audit policy file that does not parse or names an unknown field, level or stage. */
export class AuditPolicyError extends AuditError {
  readonly code = 'E_AUDIT_POLICY';
}

/** An audit signing key file that is malformed, does not open under the keyring, or is inconsistent. */
export class AuditKeyError extends AuditError {
  readonly code = 'E_AUDIT_KEY';
}

/** A query filter that is out of range or malformed (a bad time, a limit above the maximum). */
export class AuditQueryError extends AuditError {
  readonly code = 'E_AUDIT_QUERY';
}
