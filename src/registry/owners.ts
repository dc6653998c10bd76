/**
 * The owner index: for each owner uid, the objects whose `metadata.ownerReferences` name it, so that
 * deleting an owner finds its dependents with one prefix read instead of a scan (the garbage
 * collector's graph; deleteWithDependents in registry.ts walks it).
 *
 * Layout: `/registry/coffer.dev/owners/<owner uid>/<dependent's key below /registry/>`, empty value.
 * Invariant: the index keys of an object are written and deleted in the same transaction as the object
 * (create, update, delete, and each batch of a namespace being emptied), so the index always matches
 * the stored references.
 */
import type { TxnOp } from '../storage/mvcc/index.ts';
import { objectKeyText, registryPrefix } from './keys.ts';
import type { OwnerReference, StoredObject } from './object.ts';
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
