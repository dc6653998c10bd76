/**
 * The shape every stored object shares, and the checks on what a client may set in `metadata`.
 *
 * A stored object is the JSON of `{apiVersion, kind, metadata, ...body}` where metadata holds only
 * name, generateName, namespace (namespaced kinds), uid, creationTimestamp, labels, annotations,
 * finalizers, ownerReferences, managedFields (set by the registry from the write, managed-fields/) and
 * — once a delete waits on finalizers — deletionTimestamp and deletionGracePeriodSeconds.
 * `resourceVersion` is never stored: it is the key's mod revision, added when the object is read. Whatever else a client sends in metadata is dropped, as an allowlist: nothing
 * reaches the store or a response unless a field here names it. (Secrets, ConfigMaps, Namespaces and RBAC
 * objects carry no `generation`, as in Kubernetes; objects stored by older versions may hold one, and it
 * is not shown.)
 */
import { annotationsBytesMax, apiVersionLengthMax, dns1035LabelLengthMax, finalizersMax, nameLengthMax, ownerReferencesMax, uidLengthMax } from '../config/index.ts';
import type { StatusCause } from './errors.ts';
import { mapEntriesCause } from './map-entries.ts';
import { dns1035LabelErrors, dns1123SubdomainErrors, kindErrors, labelValueErrors, pathSegmentNameErrors, qualifiedNameErrors } from './names.ts';

export type Json = Record<string, unknown>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** One manager's entry of metadata.managedFields, as Kubernetes shapes it (managed-fields/entries.ts). */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
}

export interface ObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid: string;
  creationTimestamp: string;
  /** Only in objects stored by older versions; never shown. */
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  /** Set (once) when a delete waits on finalizers; the object goes when the last one is removed. */
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  /** Which manager owns which fields (names, never values): managed-fields/. */
  managedFields?: ManagedFieldsEntry[];
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
  generateName: string | undefined;
  namespace: string | undefined;
  resourceVersion: string | undefined;
  labels: Record<string, string> | undefined;
  annotations: Record<string, string> | undefined;
  finalizers: string[] | undefined;
  ownerReferences: OwnerReference[] | undefined;
}

export function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the client-settable metadata of `body`, recording a cause per bad field. */
export function readClientMeta(body: Json, causes: StatusCause[]): ClientMeta {
  const meta = body.metadata;
  const result: ClientMeta = {
    name: undefined, generateName: undefined, namespace: undefined, resourceVersion: undefined, labels: undefined, annotations: undefined,
    finalizers: undefined, ownerReferences: undefined,
  };
  if (meta === undefined || meta === null) return result;
  if (!isJson(meta)) {
    causes.push({ field: 'metadata', message: 'must be an object', reason: 'FieldValueInvalid' });
    return result;
  }
  result.name = optionalString(meta, 'name', 'metadata.name', causes);
  result.generateName = optionalString(meta, 'generateName', 'metadata.generateName', causes);
  result.finalizers = finalizersOf(meta.finalizers, causes);
  result.ownerReferences = ownerReferencesOf(meta.ownerReferences, causes);
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

/**
 * A map of strings to strings (labels, annotations, ConfigMap data); null or absent → undefined. One with
 * more than objectMapEntriesMax entries is refused whole (map-entries.ts), before any entry is looked at.
 */
export function stringMap(value: unknown, path: string, causes: StatusCause[]): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJson(value)) {
    causes.push({ field: path, message: 'must be an object of strings', reason: 'FieldValueInvalid' });
    return undefined;
  }
  const tooMany = mapEntriesCause(path, Object.keys(value).length);
  if (tooMany !== undefined) {
    causes.push(tooMany);
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

/** A metadata list field: absent, or a list of at most `max` items (a cause per problem; undefined when not a list). */
function listField(value: unknown, field: string, max: number, causes: StatusCause[]): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    causes.push({ field, message: 'must be a list', reason: 'FieldValueInvalid' });
    return undefined;
  }
  if (value.length > max) causes.push({ field, message: `Too many: ${value.length}: must have at most ${max} items`, reason: 'FieldValueTooMany' });
  return value as unknown[];
}

function finalizersOf(value: unknown, causes: StatusCause[]): string[] | undefined {
  const list = listField(value, 'metadata.finalizers', finalizersMax, causes);
  if (list === undefined) return undefined;
  const out: string[] = [];
  list.forEach((item, i) => {
    if (typeof item !== 'string') {
      causes.push({ field: `metadata.finalizers[${i}]`, message: 'must be a string', reason: 'FieldValueInvalid' });
      return;
    }
    for (const e of qualifiedNameErrors(item)) causes.push({ field: `metadata.finalizers[${i}]`, message: `Invalid value: ${JSON.stringify(item)}: ${e}`, reason: 'FieldValueInvalid' });
    if (!out.includes(item)) out.push(item);
  });
  return out.length === 0 ? undefined : out;
}

function ownerReferencesOf(value: unknown, causes: StatusCause[]): OwnerReference[] | undefined {
  const list = listField(value, 'metadata.ownerReferences', ownerReferencesMax, causes);
  if (list === undefined) return undefined;
  const out: OwnerReference[] = [];
  list.forEach((item, i) => {
    const where = `metadata.ownerReferences[${i}]`;
    if (!isJson(item)) {
      causes.push({ field: where, message: 'must be an object', reason: 'FieldValueInvalid' });
      return;
    }
    const ref: Partial<OwnerReference> = {};
    for (const field of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      const text = item[field];
      if (typeof text !== 'string' || text === '') causes.push({ field: `${where}.${field}`, message: 'Required value', reason: 'FieldValueRequired' });
      else ref[field] = text;
    }
    causes.push(...ownerReferenceCauses(ref, where));
    for (const flag of ['controller', 'blockOwnerDeletion'] as const) {
      const bit = item[flag];
      if (bit === undefined || bit === null) continue;
      if (typeof bit !== 'boolean') causes.push({ field: `${where}.${flag}`, message: 'must be true or false', reason: 'FieldValueInvalid' });
      else ref[flag] = bit;
    }
    out.push(ref as OwnerReference);
  });
  if (out.filter((r) => r.controller === true).length > 1) {
    causes.push({ field: 'metadata.ownerReferences', message: 'Invalid value: only one reference can have Controller set to true', reason: 'FieldValueInvalid' });
  }
  return out.length === 0 ? undefined : out;
}

/**
 * One owner reference's fields, checked as Kubernetes' ValidateOwnerReferences checks them (the apiVersion
 * names a version; v1 Event may not own) and bounded where Kubernetes bounds only the whole object: a name
 * as an object's name (the RBAC path-segment rule, the loosest of Coffer's kinds, at most nameLengthMax), a
 * kind and a version as DNS-1035 labels, a group as a DNS-1123 subdomain, a uid at most uidLengthMax without
 * "/" or spaces (it is a path segment of the owner index, owners.ts). Unbounded, a reference could pad an
 * object to exactly a size limit, and the refusal would tell the size of what the writer may not read.
 */
function ownerReferenceCauses(ref: Partial<OwnerReference>, where: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const check = (field: keyof OwnerReference, lengthMax: number, errors: (value: string) => string[]): void => {
    const value = ref[field];
    if (typeof value !== 'string') return;
    // A value too long is not quoted back: the refusal would be as large as the request.
    if (value.length > lengthMax) causes.push({ field: `${where}.${field}`, message: `Too long: may not be more than ${lengthMax} characters`, reason: 'FieldValueTooLong' });
    else for (const e of errors(value)) causes.push({ field: `${where}.${field}`, message: `Invalid value: ${JSON.stringify(value)}: ${e}`, reason: 'FieldValueInvalid' });
  };
  check('apiVersion', apiVersionLengthMax, apiVersionErrors);
  check('kind', dns1035LabelLengthMax, kindErrors);
  check('name', nameLengthMax, pathSegmentNameErrors);
  check('uid', uidLengthMax, (uid) => (/[/\s]/.test(uid) ? ['must not contain "/" or spaces'] : []));
  if (ref.apiVersion === 'v1' && ref.kind === 'Event') causes.push({ field: where, message: 'Invalid value: /v1, Kind=Event is disallowed from being an owner', reason: 'FieldValueInvalid' });
  return causes;
}

/** An apiVersion: a version (`v1`, the core group) or a group and a version (`rbac.authorization.k8s.io/v1`). */
function apiVersionErrors(apiVersion: string): string[] {
  const parts = apiVersion.split('/');
  if (parts.length > 2) return ['must be a version, or a group and a version (e.g. \'rbac.authorization.k8s.io/v1\')'];
  const errors = parts.length === 2 ? dns1123SubdomainErrors(parts[0]!).map((e) => `group: ${e}`) : [];
  const version = parts[parts.length - 1]!;
  if (version === '') errors.push('version must not be empty');
  else errors.push(...dns1035LabelErrors(version).map((e) => `version: ${e}`));
  return errors;
}

/** The metadata a response shows: the stored fields from the allowlist, and the resourceVersion (unless never stored). */
export function projectMeta(meta: ObjectMeta, modRevision: number, namespaced: boolean): Json {
  const out: Json = { name: meta.name };
  if (meta.generateName !== undefined) out.generateName = meta.generateName;
  if (namespaced && meta.namespace !== undefined) out.namespace = meta.namespace;
  out.uid = meta.uid;
  // 0: never stored (the answer to a dry-run create).
  if (modRevision > 0) out.resourceVersion = String(modRevision);
  out.creationTimestamp = meta.creationTimestamp;
  if (meta.deletionTimestamp !== undefined) out.deletionTimestamp = meta.deletionTimestamp;
  if (meta.deletionGracePeriodSeconds !== undefined) out.deletionGracePeriodSeconds = meta.deletionGracePeriodSeconds;
  if (isJson(meta.labels)) out.labels = { ...meta.labels };
  if (isJson(meta.annotations)) out.annotations = { ...meta.annotations };
  if (Array.isArray(meta.finalizers)) out.finalizers = [...meta.finalizers];
  if (Array.isArray(meta.ownerReferences)) out.ownerReferences = meta.ownerReferences.map((r) => ({ ...r }));
  if (Array.isArray(meta.managedFields)) out.managedFields = structuredClone(meta.managedFields);
  return out;
}
