/**
 * The one place a stored object becomes an answer: every response that carries an object (get, list,
 * watch events, tables, the answers to create, update, patch and Coffer's subresources) goes through
 * `presentFor`. A Secret's values reach only a caller who may `get` that Secret by name; anyone else gets
 * the redacted copy: no `data`, no annotation that may embed the object (kubectl's last-applied
 * configuration), no managedFields, marked with `coffer.dev/data-redacted: "true"` — a copy so marked is refused on
 * write (routes.ts), so it cannot overwrite the real values.
 *
 * Invariant: a Secret leaves this module with `data` only if isAllowed(get secrets/<name>) held for the
 * caller at the moment it was presented. What is hidden is listed once, in registry/hidden-fields.ts.
 */
import { embeddingAnnotations, present, secrets, type Json, type ResourceType, type VersionedObject } from '../../registry/index.ts';
import { type Caller, isAllowed } from './authorization.ts';
import type { PolicyHolder } from './policy-holder.ts';

export const redactedAnnotation = 'coffer.dev/data-redacted';

export function presentFor(type: ResourceType, versioned: VersionedObject, caller: Caller, policy: PolicyHolder): Json {
  if (type !== secrets) return present(type, versioned);
  const meta = versioned.object.metadata;
  if (mayGetSecret(caller, policy, meta.namespace ?? '', meta.name)) return present(type, versioned);
  return redactedSecret(type, versioned);
}

export function mayGetSecret(caller: Caller, policy: PolicyHolder, namespace: string, name: string): boolean {
  return isAllowed(policy.policy, caller, {
    isResource: true, verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'secrets', subresource: '', namespace, name,
  });
}

function redactedSecret(type: ResourceType, versioned: VersionedObject): Json {
  const shown = present(type, versioned, false);
  const metadata = shown.metadata as Json;
  const annotations: Record<string, string> = { ...(metadata.annotations as Record<string, string> | undefined) };
  for (const name of embeddingAnnotations) delete annotations[name];
  metadata.annotations = { ...annotations, [redactedAnnotation]: 'true' };
  // managedFields name the data keys, which the redacted copy does not show, and who owns which changes
  // with a write whether a value sent equals the stored one.
  delete metadata.managedFields;
  return shown;
}
