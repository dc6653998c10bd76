/**
 * The owner index: for each owner uid, the objects whose `metadata.ownerReferences` name it, so that
 * deleting an owner finds its dependents with one prefix read instead of a scan (the garbage
 * collector's graph; deleteWithDependents in registry.ts walks it).
 *
 * Layout: `/registry/coffer.dev/owners/<owner uid>/<dependent's key below /registry/>`, empty value.
 * Invariant: the index keys of an object are written and deleted in the same transaction as the object
 * (create, update, delete, and each batch of a namespace being emptied), so the index always matches
 * the stored references.
 *
 * An entry is only a candidate: anyone who may create an object may write into its references any uid it
 * has seen (lists show uids, of redacted Secrets too). A reference names an owner only when its uid, kind,
 * API group and name are the owner's and its scope holds (refersTo): a namespaced owner is in the
 * dependent's own namespace, as Kubernetes resolves it (a uid from another namespace names nothing); a
 * cluster-scoped owner owns cluster-scoped objects only. The last is stricter than Kubernetes, which lets a
 * namespaced object name a cluster-scoped owner: a cascade here deletes only what its caller may delete and
 * is otherwise refused (registry.ts), so following such a reference would let anyone who may create in one
 * namespace block the deletion of a ClusterRoleBinding or a Namespace by everyone who may not delete in that
 * namespace — an RBAC administrator could not revoke a binding. Such a reference, and one from a
 * cluster-scoped object to a namespaced kind, is refused when written (ownerScopeCauses), where Kubernetes
 * accepts both and its garbage collector only reports the second: a reference that is never followed should
 * not look as if it worked. One stored before is kept, and not followed. Whether a uid is some object's in
 * another namespace is not checked when written: the answer would tell the writer.
 */
import type { TxnOp } from '../storage/mvcc/index.ts';
import type { StatusCause } from './errors.ts';
import { objectKeyText, registryPrefix } from './keys.ts';
import type { OwnerReference, StoredObject, VersionedObject } from './object.ts';
import { resourceTypes, type ResourceType } from './resources.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ownersPrefix = `${registryPrefix}coffer.dev/owners/`;

/** Where a dependent's entry under one owner lives. */
function indexKey(ownerUid: string, dependentKeyText: string): Uint8Array {
  return encoder.encode(`${ownersPrefix}${ownerUid}/${dependentKeyText.slice(registryPrefix.length)}`);
}

/** The prefix holding every dependent of one owner. */
export function dependentsPrefix(ownerUid: string): Uint8Array {
  return encoder.encode(`${ownersPrefix}${ownerUid}/`);
}

export interface DependentRef {
  type: ResourceType;
  namespace: string | undefined;
  name: string;
}

/** The dependent an index key names; undefined for a key this module did not write. */
export function dependentOf(key: Uint8Array): DependentRef | undefined {
  const text = decoder.decode(key);
  if (!text.startsWith(ownersPrefix)) return undefined;
  const parts = text.slice(ownersPrefix.length).split('/').slice(1);
  // Resource names are unique across Coffer's groups.
  const type = resourceTypes.find((t) => t.resource === parts[0]);
  if (type === undefined) return undefined;
  if (type.namespaced) return parts.length === 3 ? { type, namespace: parts[1], name: parts[2]! } : undefined;
  return parts.length === 2 ? { type, namespace: undefined, name: parts[1]! } : undefined;
}

function ownerUids(object: StoredObject | undefined): Set<string> {
  return new Set((object?.metadata.ownerReferences ?? []).map((r: OwnerReference) => r.uid));
}

/**
 * The index operations that take the entries of `before` (absent: a create) to those of `after`
 * (absent: a delete) for the object of `type` at (namespace, name).
 */
export function ownerIndexOps(type: ResourceType, namespace: string | undefined, name: string, before: StoredObject | undefined, after: StoredObject | undefined): TxnOp[] {
  const keyText = objectKeyText(type, namespace, name);
  const was = ownerUids(before);
  const is = ownerUids(after);
  const ops: TxnOp[] = [];
  for (const uid of was) if (!is.has(uid)) ops.push({ type: 'deleteRange', key: indexKey(uid, keyText) });
  for (const uid of is) if (!was.has(uid)) ops.push({ type: 'put', key: indexKey(uid, keyText), value: new Uint8Array(0) });
  return ops;
}

/** An object as an owner: what a reference must name for the object holding it to be its dependent. */
export interface Owner {
  type: ResourceType;
  /** Undefined for a cluster-scoped owner. */
  namespace: string | undefined;
  name: string;
  uid: string;
}

/** A dependent found through the index whose reference names its owner (refersTo), as read. */
export interface Dependent {
  at: DependentRef;
  found: VersionedObject;
}

export function ownerOf(type: ResourceType, object: StoredObject): Owner {
  const { namespace, name, uid } = object.metadata;
  return { type, namespace: type.namespaced ? namespace : undefined, name, uid };
}

/** The kind Coffer stores that a reference names: its kind in its apiVersion's group (any version of it, as Kubernetes). */
export function ownerTypeOf(ref: Pick<OwnerReference, 'apiVersion' | 'kind'>): ResourceType | undefined {
  const slash = ref.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : ref.apiVersion.slice(0, slash);
  return resourceTypes.find((t) => t.kind === ref.kind && t.group === group);
}

/**
 * The owner a reference held by an object in `dependentNamespace` (undefined: a cluster-scoped object) names,
 * if it is one Coffer stores and the cascade follows: a namespaced owner in the same namespace, a
 * cluster-scoped owner of a cluster-scoped object.
 */
export function ownerNamedBy(ref: OwnerReference, dependentNamespace: string | undefined): Owner | undefined {
  const type = ownerTypeOf(ref);
  if (type === undefined || type.namespaced !== (dependentNamespace !== undefined)) return undefined;
  return { type, namespace: dependentNamespace, name: ref.name, uid: ref.uid };
}

/** Whether a reference held by an object in `dependentNamespace` names `owner`: uid, kind, group, name and scope. */
export function refersTo(ref: OwnerReference, dependentNamespace: string | undefined, owner: Owner): boolean {
  const named = ownerNamedBy(ref, dependentNamespace);
  return named !== undefined && named.type === owner.type && named.namespace === owner.namespace && named.name === owner.name && named.uid === owner.uid;
}

/** Whether `object` is a dependent of `owner`: one of its references names it. */
export function isDependentOf(object: StoredObject, owner: Owner): boolean {
  return (object.metadata.ownerReferences ?? []).some((r) => refersTo(r, object.metadata.namespace, owner));
}

/** Whether an object's stored references hold `ref` (uid, apiVersion, kind and name alike). */
function alreadyHeld(ref: OwnerReference, stored: readonly OwnerReference[] | undefined): boolean {
  return (stored ?? []).some((s) => s.uid === ref.uid && s.apiVersion === ref.apiVersion && s.kind === ref.kind && s.name === ref.name);
}

/**
 * The owners a write's references name that the object did not name before (`stored`: its references as
 * stored; absent for a create) and that a cascade would follow (ownerNamedBy) — whether or not such an
 * owner exists, so that what the write is told does not depend on it. Naming an owner is a power over it:
 * its dependent is deleted with it, and a delete by anyone who may not delete the dependent is refused.
 */
export function ownersNewlyNamed(refs: readonly OwnerReference[] | undefined, stored: readonly OwnerReference[] | undefined, dependentNamespace: string | undefined): Owner[] {
  const owners: Owner[] = [];
  for (const ref of refs ?? []) {
    if (alreadyHeld(ref, stored)) continue;
    const owner = ownerNamedBy(ref, dependentNamespace);
    if (owner !== undefined) owners.push(owner);
  }
  return owners;
}

/**
 * The references of an object of `type` the cascade would never follow, refused when written (422): to a
 * cluster-scoped kind from a namespaced object (see the module comment), to a namespaced kind from a
 * cluster-scoped one (it has no namespace to find it in; Kubernetes' garbage collector calls it invalid). A
 * reference the object already holds is kept, so an object stored before this rule stays writable (its
 * finalizers can still be removed). Kinds Coffer does not store are accepted as Kubernetes accepts them.
 */
export function ownerScopeCauses(type: ResourceType, refs: readonly OwnerReference[] | undefined, stored: readonly OwnerReference[] | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  (refs ?? []).forEach((ref, i) => {
    const ownerType = ownerTypeOf(ref);
    if (ownerType === undefined || ownerType.namespaced === type.namespaced) return;
    if (alreadyHeld(ref, stored)) return;
    const message = type.namespaced
      ? 'a namespaced object may not name a cluster-scoped owner (Coffer does not follow such a reference: anyone who may create in a namespace could otherwise block the deletion of a cluster-wide object)'
      : 'a cluster-scoped object may not name a namespaced owner (it has no namespace to find the owner in)';
    causes.push({ field: `metadata.ownerReferences[${i}]`, message: `Invalid value: ${JSON.stringify(ref.kind)}: ${message}`, reason: 'FieldValueInvalid' });
  });
  return causes;
}
