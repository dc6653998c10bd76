/**
 * What every write handler passes to the registry from the parsed request: who writes (the version
 * history's createdBy), which field manager metadata.managedFields records, whether it is a dry
 * run (../dry-run.ts), whether the caller writes a Secret it may not get (value-blind), the
 * account its reads of the object are charged to (../held-bytes.ts), and whether it may name an object
 * as an owner (update on it). `All` is the only value Kubernetes defines;
 * anything else is refused (400) rather than taken as a real write.
 */
import type { FastifyRequest } from 'fastify';
import { fieldManagerLengthMax, uidLengthMax } from '../../config/index.ts';
import { type DeleteOptions, fieldManagerErrors, type MayDelete, type PropagationPolicy, propagationPolicies, RegistryError, type WriteOptions } from '../../registry/index.ts';
import { dryRunValues, isValidDryRun } from '../dry-run.ts';
import { readAccountOf } from '../held-bytes.ts';
import { parsedRequest } from '../request.ts';
import { type Caller, callerFor, isAllowed } from './authorization.ts';
import { patchTypeOf } from './patch.ts';
import { mayGetSecret } from './presentation.ts';
import type { PolicyHolder } from './policy-holder.ts';

export function writeOptionsOf(request: FastifyRequest, holder: PolicyHolder): Required<Pick<WriteOptions, 'actor' | 'dryRun' | 'fieldManager' | 'valueBlind' | 'mayNameOwner'>> & Pick<WriteOptions, 'account'> {
  const caller = callerFor(request);
  return {
    actor: caller.user, dryRun: isDryRun(request), fieldManager: fieldManagerOf(request, false), valueBlind: isValueBlind(request, holder, caller),
    account: readAccountOf(caller), mayNameOwner: mayOn(holder, caller, 'update'),
  };
}

/** The caller's right to `verb` an object (for `list`, any object of its type in that namespace). */
function mayOn(holder: PolicyHolder, caller: Caller, verb: string): MayDelete {
  return (type, namespace, name) => isAllowed(holder.policy, caller, {
    isResource: true, verb, apiGroup: type.group, apiVersion: 'v1', resource: type.resource, subresource: '', namespace: namespace ?? '', name: verb === 'list' ? '' : name,
  });
}

/** A write to a Secret (its subresources included) by a caller who may not get it: registry WriteOptions.valueBlind. */
function isValueBlind(request: FastifyRequest, holder: PolicyHolder, caller: Caller): boolean {
  const { info } = parsedRequest(request.raw);
  return info.isResource && info.resource === 'secrets' && (info.apiGroup === '' || info.apiGroup === 'coffer.dev') && info.name !== ''
    && !mayGetSecret(caller, holder, info.namespace, info.name);
}

/** What a server-side apply adds: its manager (`fieldManager` is required, as Kubernetes) and `force`. */
export function applyOptionsOf(request: FastifyRequest): { manager: string; force: boolean } {
  const force = parsedRequest(request.raw).query.force;
  if (force !== undefined && force !== 'true' && force !== 'false') throw optionsInvalid(request, 'force', `Invalid value: ${JSON.stringify(force.slice(0, 32))}: must be true or false`, 'FieldValueInvalid');
  return { manager: fieldManagerOf(request, true), force: force === 'true' };
}

/**
 * The write's field manager, as Kubernetes picks it: `?fieldManager=` (at most fieldManagerLengthMax
 * printable characters; required for an apply), else the User-Agent up to its first '/' (kubectl's
 * `kubectl-edit/v1.32.0 (linux/amd64) …` is `kubectl-edit`), else `unknown`. `force` belongs to apply only.
 */
function fieldManagerOf(request: FastifyRequest, applying: boolean): string {
  const query = parsedRequest(request.raw).query;
  if (!applying && request.method === 'PATCH' && patchTypeOf(request.headers['content-type']) !== 'apply' && query.force !== undefined) throw optionsInvalid(request, 'force', 'Forbidden: may not be specified for non-apply patch', 'FieldValueForbidden');
  const named = query.fieldManager;
  if (named !== undefined && named !== '') {
    const errors = fieldManagerErrors(named);
    if (errors.length > 0) throw optionsInvalid(request, 'fieldManager', errors[0]!, 'FieldValueInvalid');
    return named;
  }
  if (applying) throw optionsInvalid(request, 'fieldManager', 'Required value: is required for apply patch', 'FieldValueRequired');
  const agent = request.headers['user-agent'];
  const prefix = [...(typeof agent === 'string' ? agent.split('/')[0] ?? '' : '')].filter((c) => fieldManagerErrors(c).length === 0).slice(0, fieldManagerLengthMax).join('');
  return prefix === '' ? 'unknown' : prefix;
}

/** Kubernetes' refusal of bad write options: `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: …` (422). */
function optionsInvalid(request: FastifyRequest, field: string, message: string, reason: string): RegistryError {
  const kind = request.method === 'POST' ? 'CreateOptions' : request.method === 'PUT' ? 'UpdateOptions' : 'PatchOptions';
  return new RegistryError('Invalid', `${kind}.meta.k8s.io "" is invalid: ${field}: ${message}`, { group: 'meta.k8s.io', kind, causes: [{ field, message, reason }] });
}

export function isDryRun(request: FastifyRequest): boolean {
  const values = dryRunValues(request);
  if (values.length === 0) return false;
  if (isValidDryRun(values)) return true;
  const bad = values.find((v) => v !== 'All') ?? '';
  throw new RegistryError('BadRequest', `dryRun ${JSON.stringify(bad.slice(0, 32))} is not supported: the only value is "All"`);
}

/**
 * A delete's options, from the DeleteOptions body kubectl and client-go send and the query parameters
 * the API server also accepts: the uid and resourceVersion preconditions, dryRun, and propagationPolicy
 * (or the older orphanDependents). A value that is not one Kubernetes defines is refused (400).
 */
export function deleteOptionsOf(request: FastifyRequest, holder: PolicyHolder): DeleteOptions {
  const body = request.body;
  const fields: Record<string, unknown> = body !== null && typeof body === 'object' && !Array.isArray(body) ? body as Record<string, unknown> : {};
  const query = parsedRequest(request.raw).query;
  const options: DeleteOptions = writeOptionsOf(request, holder);
  const preconditions = fields.preconditions;
  if (preconditions !== null && typeof preconditions === 'object') {
    const { resourceVersion, uid } = preconditions as { resourceVersion?: unknown; uid?: unknown };
    if (typeof resourceVersion === 'string') options.resourceVersion = resourceVersion;
    if (uid !== undefined && uid !== null) {
      // Quoted back in a failed precondition's answer: a string no longer than a uid.
      if (typeof uid !== 'string' || uid.length > uidLengthMax) throw new RegistryError('BadRequest', `preconditions.uid must be a string of at most ${uidLengthMax} characters`);
      options.uid = uid;
    }
  }
  const policy = fields.propagationPolicy ?? query.propagationPolicy;
  const orphan = fields.orphanDependents ?? query.orphanDependents;
  if (policy !== undefined && policy !== null && policy !== '') {
    if (!propagationPolicies.includes(policy as PropagationPolicy)) {
      throw new RegistryError('BadRequest', `propagationPolicy ${JSON.stringify(policy).slice(0, 40)} is not supported: use Background, Foreground or Orphan`);
    }
    if (orphan !== undefined && orphan !== null) throw new RegistryError('BadRequest', 'orphanDependents and propagationPolicy may not both be set');
    options.propagationPolicy = policy as PropagationPolicy;
  } else if (orphan === true || orphan === 'true') {
    options.propagationPolicy = 'Orphan';
  }
  // A cascade deletes only what the caller could delete itself (registry.ts, deleteWithDependents), and its
  // refusal names a dependent only if the caller may get or list it.
  const caller = callerFor(request);
  options.mayDelete = mayOn(holder, caller, 'delete');
  options.mayRead = (type, namespace, name) => mayOn(holder, caller, 'get')(type, namespace, name) || mayOn(holder, caller, 'list')(type, namespace, name);
  return options;
}
