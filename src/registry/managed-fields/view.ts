/**
 * The tracked view of an object: the fields a client sets, and so the fields a manager can own —
 * metadata's labels, annotations, finalizers and ownerReferences, and the kind's body without what the
 * server sets (a Namespace's spec and status). Never apiVersion, kind, name, namespace, uid,
 * resourceVersion, timestamps or managedFields themselves, as in Kubernetes.
 *
 * An applied configuration is read into the same view: a Secret's stringData becomes data (base64), so
 * ownership is of data keys whichever way a value was sent, and null values are dropped (a null in an
 * applied configuration sets nothing).
 */
import { managedFieldsDepthMax } from '../../config/index.ts';
import { RegistryError } from '../errors.ts';
import type { Json, StoredObject } from '../object.ts';
import { type ResourceType, secrets } from '../resources.ts';

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const trackedMetadata = ['labels', 'annotations', 'finalizers', 'ownerReferences'] as const;

export function trackedView(type: ResourceType, object: StoredObject): Json {
  const { apiVersion: _a, kind: _k, metadata, ...body } = object;
  const meta: Json = {};
  for (const field of trackedMetadata) if (metadata[field] !== undefined) meta[field] = metadata[field];
  const view: Json = { metadata: meta, ...type.project(body) };
  for (const field of type.serverFields ?? []) delete view[field];
  return view;
}

/** An applied configuration (already checked to be an object of this kind) as a tracked view. */
export function configView(type: ResourceType, config: Json): Json {
  if (tooDeep(config, 0)) throw new RegistryError('BadRequest', `the applied configuration is nested deeper than ${managedFieldsDepthMax} levels`);
  const { apiVersion: _a, kind: _k, metadata, ...body } = withoutNulls(config) as Json;
  const meta: Json = {};
  if (isObj(metadata)) for (const field of trackedMetadata) if (metadata[field] !== undefined) meta[field] = metadata[field];
  const view: Json = { metadata: meta };
  for (const [key, value] of Object.entries(body)) {
    if (!(type.serverFields ?? []).includes(key)) Object.defineProperty(view, key, { value, enumerable: true, writable: true, configurable: true });
  }
  // stringData that is not a map stays, for validation to name it.
  if (type === secrets && isObj(view.stringData) && (view.data === undefined || isObj(view.data))) {
    const data: Json = { ...view.data };
    for (const [key, value] of Object.entries(view.stringData)) {
      Object.defineProperty(data, key, { value: typeof value === 'string' ? Buffer.from(value, 'utf8').toString('base64') : value, enumerable: true, writable: true, configurable: true });
    }
    view.data = data;
    delete view.stringData;
  }
  return view;
}

/** Whether `value` nests deeper than managedFieldsDepthMax (the walk stops there). */
function tooDeep(value: unknown, depth: number): boolean {
  if (depth > managedFieldsDepthMax) return true;
  if (Array.isArray(value)) return value.some((v) => tooDeep(v, depth + 1));
  if (isObj(value)) return Object.values(value).some((v) => tooDeep(v, depth + 1));
  return false;
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObj(value)) return value;
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) {
    if (child !== null) Object.defineProperty(out, key, { value: withoutNulls(child), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
