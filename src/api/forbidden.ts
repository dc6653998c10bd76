/**
 * A request the caller has no right to, found after the gate (a key range, a lease, a stream whose right
 * went while it started): 403 and PERMISSION_DENIED in every dialect (errors.ts, k8s/status.ts).
 */
import { CofferError } from '../base/index.ts';

export class ForbiddenError extends CofferError {
  readonly code = 'E_FORBIDDEN';
}
