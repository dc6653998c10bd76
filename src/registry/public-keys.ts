/**
 * What the API's policy holder needs to read RBAC objects straight from the local store: where a
 * type's objects live, and decoding a stored value.
 */
import type { KeyValue } from '../storage/mvcc/index.ts';
import { decodeObject } from './registry.ts';
import type { VersionedObject } from './object.ts';

export { registryPrefix, listPrefix } from './keys.ts';

export function decodeObjectValue(kv: KeyValue): VersionedObject | undefined {
  return decodeObject(kv);
}
