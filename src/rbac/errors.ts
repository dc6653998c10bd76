/**
 * Expected RBAC conditions as typed errors with a stable `code`. An invalid object carries one
 * cause per bad field (`rules[0].verbs: required`), shaped like the causes of a Kubernetes
 * `Status`, so the API can return them as they are. Messages name fields, objects and files; RBAC
 * objects hold no secret material, but values are quoted only where they help find the mistake.
 */
import { CofferError } from '../base/index.ts';

export type RbacErrorCode =
  /** An RBAC object failed validation; `causes` says which fields. */
  | 'INVALID_OBJECT'
  /** A policy file is not well-formed YAML, or a document is not an object with apiVersion and kind. */
  | 'INVALID_POLICY_FILE'
  /** The same object (kind, namespace, name) appears twice in one policy set. */
  | 'DUPLICATE_OBJECT'
  /** A policy file or directory cannot be read. */
  | 'POLICY_UNREADABLE'
  /** A policy file or set is larger than its named limit. */
  | 'LIMIT_EXCEEDED';

export interface FieldCause {
  /** Path of the bad field, as Kubernetes writes it: `rules[0].verbs`, `roleRef.kind`, `metadata.name`. */
  field: string;
  message: string;
}

export class RbacError extends CofferError {
  readonly code: RbacErrorCode;
  readonly causes: readonly FieldCause[];

  constructor(code: RbacErrorCode, message: string, options?: { causes?: readonly FieldCause[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.causes = options?.causes ?? [];
  }
}

export function isRbacError(error: unknown, code?: RbacErrorCode): error is RbacError {
  return error instanceof RbacError && (code === undefined || error.code === code);
}
