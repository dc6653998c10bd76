/**
 * Which revision a list is read at, from its `resourceVersion`, `resourceVersionMatch`, `limit` and
 * `continue`, as the Kubernetes API server reads them (ValidateListOptions, then its storage):
 *
 * - unset: the most recent list; "0": any (Coffer answers the most recent);
 * - NotOlderThan R, or a bare R without `limit`: a list at least as fresh as R (minRevision);
 * - Exact R, or a bare R with `limit` (the legacy reading of a paginated list): the list as it was at R
 *   (revision) — 410 once R is compacted;
 * - R newer than the store: 504 Timeout, ResourceVersionTooLarge (the registry's list says so).
 *
 * Refused as Kubernetes refuses them: a match without a resourceVersion, with a continue, of an unknown
 * value, or Exact at "0" — 422 Invalid ListOptions; a resourceVersion that is not a revision, or one
 * other than "0" with a continue (which carries its own revision) — 400.
 */
import { parseRevision, RegistryError, type StatusCause } from '../../registry/index.ts';

export interface ListRevision {
  /** Read at exactly this revision. */
  revision?: number;
  /** Read at a revision no older than this. */
  minRevision?: number;
}

const matches = ['Exact', 'NotOlderThan'];

export function listRevisionOf(resourceVersion: string | undefined, match: string | undefined, limit: number | undefined, continueToken: string | undefined): ListRevision {
  const rv = resourceVersion ?? '';
  const causes: StatusCause[] = [];
  if (match !== undefined && match !== '') {
    if (rv === '') causes.push(forbidden('resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (continueToken !== undefined && continueToken !== '') causes.push(forbidden('resourceVersionMatch is forbidden when continue is provided'));
    if (!matches.includes(match)) {
      causes.push({ field: 'resourceVersionMatch', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(match.slice(0, 32))}: supported values: "Exact", "NotOlderThan", ""` });
    }
    if (match === 'Exact' && rv === '0') causes.push(forbidden('resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
  }
  if (causes.length > 0) throw invalidListOptions(causes);
  if (continueToken !== undefined && continueToken !== '') {
    if (rv !== '' && rv !== '0') throw new RegistryError('BadRequest', 'specifying resource version is not allowed when using continue');
    return {};
  }
  if (rv === '') return {};
  const revision = parseRevision(rv);
  if (revision === 0) return {};
  const exact = match === 'Exact' || ((match === undefined || match === '') && limit !== undefined && limit > 0);
  return exact ? { revision } : { minRevision: revision };
}

/** Kubernetes' refusal of list or watch options: 422 Invalid, `ListOptions.meta.k8s.io "" is invalid: …`. */
export function invalidListOptions(causes: StatusCause[]): RegistryError {
  return new RegistryError('Invalid', `ListOptions.meta.k8s.io "" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { group: 'meta.k8s.io', kind: 'ListOptions', causes });
}

function forbidden(message: string): StatusCause {
  return { field: 'resourceVersionMatch', reason: 'FieldValueForbidden', message: `Forbidden: ${message}` };
}
