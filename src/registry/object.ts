/**
 * The shape every stored object shares, and the checks on what a client may set in `metadata`.
 *
 * A stored object is the JSON of `{apiVersion, kind, metadata, ...body}` where metadata holds only
 * name, namespace (namespaced kinds), uid, creationTimestamp, generation, labels and annotations.
 * `resourceVersion` is never stored: it is the key's mod revision, added when the object is read.
 * Whatever else a client sends in metadata (managedFields, ownerReferences, …) is dropped, as an
 * allowlist: nothing reaches the store or a response unless a field here names it.
 */
import { annotationsBytesMax } from '../config/index.ts';
import type { StatusCause } from './errors.ts';
import { labelValueErrors, qualifiedNameErrors } from './names.ts';

export type Json = Record<string, unknown>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  creationTimestamp: string;
  generation: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface StoredObject extends Json {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** An object as read: the stored object and its mod revision (its resourceVersion). */
export interface VersionedObject {
  object: StoredObject;
  modRevision: number;
}

/** What a client may set in metadata; server-owned fields come from the stored object. */
export interface ClientMeta {
  name: string | undefined;
  namespace: string | undefined;
  resourceVersion: string | undefined;
  labels: Record<string, string> | undefined;
  annotations: Record<string, string> | undefined;
}

export function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the client-settable metadata of `body`, recording a cause per bad field. */
export function readClientMeta(body: Json, causes: StatusCause[]): ClientMeta {
  const meta = body.metadata;
  const result: ClientMeta = { name: undefined, namespace: undefined, resourceVersion: undefined, labels: undefined, annotations: undefined };
  if (meta === undefined || meta === null) return result;
  if (!isJson(meta)) {
    causes.push({ field: 'metadata', message: 'must be an object', reason: 'FieldValueInvalid' });
    return result;
  }
  result.name = optionalString(meta, 'name', 'metadata.name', causes);
  result.namespace = optionalString(meta, 'namespace', 'metadata.namespace', causes);
  result.resourceVersion = optionalString(meta, 'resourceVersion', 'metadata.resourceVersion', causes);
  result.labels = stringMap(meta.labels, 'metadata.labels', causes);
  result.annotations = stringMap(meta.annotations, 'metadata.annotations', causes);
  for (const [key, value] of Object.entries(result.labels ?? {})) {
    for (const e of qualifiedNameErrors(key)) causes.push({ field: 'metadata.labels', message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
    for (const e of labelValueErrors(value)) causes.push({ field: `metadata.labels`, message: `Invalid value: ${JSON.stringify(value)}: ${e}`, reason: 'FieldValueInvalid' });
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(result.annotations ?? {})) {
    for (const e of qualifiedNameErrors(key.toLowerCase())) causes.push({ field: 'metadata.annotations', message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (annotationBytes > annotationsBytesMax) {
    causes.push({ field: 'metadata.annotations', message: `Too long: must have at most ${annotationsBytesMax} bytes`, reason: 'FieldValueTooLong' });
  }
  return result;
}

function optionalString(fields: Json, key: string, path: string, causes: StatusCause[]): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    causes.push({ field: path, message: 'must be a string', reason: 'FieldValueInvalid' });
    return undefined;
  }
  return value;
}

/** A map of strings to strings (labels, annotations, ConfigMap data); null or absent → undefined. */
export function stringMap(value: unknown, path: string, causes: StatusCause[]): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJson(value)) {
    causes.push({ field: path, message: 'must be an object of strings', reason: 'FieldValueInvalid' });
    return undefined;
  }
  const entries: [string, string][] = [];
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      causes.push({ field: `${path}[${key}]`, message: 'must be a string', reason: 'FieldValueInvalid' });
      continue;
    }
    entries.push([key, v]);
  }
  // fromEntries defines own properties, so a key such as "__proto__" stays data, never a prototype.
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

/** A copy of the stored metadata limited to its known fields (the response allowlist). */
export function projectMeta(meta: ObjectMeta, modRevision: number): Json {
  const out: Json = { name: meta.name };
  if (meta.namespace !== undefined) out.namespace = meta.namespace;
  out.uid = meta.uid;
  out.resourceVersion = String(modRevision);
  out.generation = meta.generation;
  out.creationTimestamp = meta.creationTimestamp;
  if (meta.labels !== undefined) out.labels = { ...meta.labels };
  if (meta.annotations !== undefined) out.annotations = { ...meta.annotations };
  return out;
}
