/**
 * Expected registry conditions as typed errors with a stable `code` — Kubernetes' Status reasons, so
 * the API maps them one to one. Messages name the object and the field, never a value of a Secret.
 */
import { CofferError } from '../base/index.ts';

export type RegistryErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  /** A resourceVersion or continue token older than the compacted history. */
  | 'Expired'
  /** A resourceVersion newer than the store's (Kubernetes' 504 "Too large resource version"). */
  | 'Timeout'
  | 'RequestEntityTooLarge'
  | 'MethodNotAllowed'
  | 'Forbidden';

export interface StatusCause {
  field: string;
  message: string;
  /** Kubernetes' cause type: FieldValueInvalid, FieldValueRequired, … */
  reason?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  /** How long the client should wait before asking again, in seconds. */
  retryAfterSeconds?: number;
}

export class RegistryError extends CofferError {
  readonly code: RegistryErrorCode;
  readonly details: StatusDetails;

  constructor(code: RegistryErrorCode, message: string, details: StatusDetails = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export function isRegistryError(error: unknown, code?: RegistryErrorCode): error is RegistryError {
  return error instanceof RegistryError && (code === undefined || error.code === code);
}

/** Kubernetes' message for an object that failed validation: `Secret "x" is invalid: field: message`. */
export function invalidError(kind: string, name: string, group: string, causes: StatusCause[]): RegistryError {
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new RegistryError('Invalid', `${kind} ${JSON.stringify(name)} is invalid: ${summary}`, { name, group, kind, causes });
}
