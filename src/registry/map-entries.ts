/**
 * How many entries an object's maps may hold together (objectMapEntriesMax): its labels and annotations,
 * a Secret's `data` (with `stringData` merged in), a ConfigMap's `data` and `binaryData`. Kubernetes
 * bounds only their size (objectBytesMax, annotationsBytesMax); Coffer bounds their entries too, because
 * each entry costs every write of the object work of its own — validation, field ownership in
 * managedFields, the audit record's digests — and a body of empty entries packs 100,000 of them under
 * the size limits. Counted together, so the limit bounds what one write tracks whichever maps hold them.
 *
 * Checked as a body arrives and again on what a write would store, both answered 422 Invalid
 * (FieldValueTooMany) naming the fullest map and the limit:
 * - `arrivingMapCauses` (src/api/k8s/routes.ts, before the audit step digests the body and before the
 *   registry reads it; registry.ts for an applied configuration): a create, update, apply or merge patch
 *   body whose maps set more entries than any object may hold — counting only entries that are not null
 *   (a null in a patch removes a key, in an applied configuration sets nothing), each of which the
 *   object would hold;
 * - `storedMapCauses` (registry.ts), on the object a write would store, before its fields are tracked:
 *   what a JSON patch or merge patch makes of the stored object, and the registry's own writes. Each map
 *   alone is checked before its entries are validated (`mapEntriesCause`: object.ts, secret.ts).
 * An object stored with more entries (before the limit) can still be read, deleted, or written to with
 * fewer entries; a write that would leave more is refused.
 */
import { objectMapEntriesMax } from '../config/index.ts';
import type { StatusCause } from './errors.ts';

type JsonMap = Record<string, unknown>;
const isJson = (value: unknown): value is JsonMap => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The cause refusing one map of `count` entries, or undefined within the limit (no map may hold more than all together). */
export function mapEntriesCause(field: string, count: number): StatusCause | undefined {
  if (count <= objectMapEntriesMax) return undefined;
  return { field, message: `Too many: ${count}: must have at most ${objectMapEntriesMax} entries (objectMapEntriesMax)`, reason: 'FieldValueTooMany' };
}

/** The maps of an object of `resource` (a ResourceType's), by field, as they are counted. */
function mapFields(resource: string): string[] {
  const data = resource === 'secrets' ? ['data'] : resource === 'configmaps' ? ['data', 'binaryData'] : [];
  return [...data, 'metadata.labels', 'metadata.annotations'];
}

/** One cause when the maps' entries (by field) exceed the limit together, naming the fullest map. */
function togetherCauses(resource: string, counts: ReadonlyMap<string, number>): StatusCause[] {
  let total = 0;
  let fullest = '';
  for (const [field, count] of counts) {
    total += count;
    if (fullest === '' || count > counts.get(fullest)!) fullest = field;
  }
  if (total <= objectMapEntriesMax) return [];
  const names = mapFields(resource).map((f) => f.replace('metadata.', '') + (resource === 'secrets' && f === 'data' ? ' (with stringData)' : ''));
  const listed = `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}`;
  return [{
    field: fullest,
    message: `Too many: ${total}: ${listed} may hold at most ${objectMapEntriesMax} entries together (objectMapEntriesMax)`,
    reason: 'FieldValueTooMany',
  }];
}

/** The keys of `map` whose value is not null. */
function setKeys(map: unknown): string[] {
  if (!isJson(map)) return [];
  return Object.keys(map).filter((key) => map[key] !== null);
}

/** How many values of `map` are not null. */
function setCount(map: unknown): number {
  if (!isJson(map)) return 0;
  const keys = Object.keys(map);
  let count = 0;
  for (let i = 0; i < keys.length; i++) if (map[keys[i]!] !== null) count++;
  return count;
}

/**
 * Causes refusing a request body for `resource` (a ResourceType's) as it arrives: an object (create,
 * update, apply) or a merge patch whose maps set more entries together than objectMapEntriesMax. Anything
 * else (a JSON patch, a body that is not an object) passes: validation of what the write would store
 * refuses it if need be.
 */
export function arrivingMapCauses(resource: string, body: unknown): StatusCause[] {
  if (!isJson(body)) return [];
  // Data maps first: the fullest is named, the first of equals.
  const counts = new Map<string, number>();
  if (resource === 'secrets') {
    const data = setCount(body.data);
    const stringData = setCount(body.stringData);
    // stringData is merged into data: a key in both is one entry.
    const merged = data === 0 || stringData === 0 ? data + stringData : new Set([...setKeys(body.data), ...setKeys(body.stringData)]).size;
    counts.set(data >= stringData ? 'data' : 'stringData', merged);
  } else if (resource === 'configmaps') {
    counts.set('data', setCount(body.data));
    counts.set('binaryData', setCount(body.binaryData));
  }
  const metadata = isJson(body.metadata) ? body.metadata : {};
  counts.set('metadata.labels', setCount(metadata.labels));
  counts.set('metadata.annotations', setCount(metadata.annotations));
  return togetherCauses(resource, counts);
}

/** Causes refusing the object a write would store: `labels`, `annotations` and the validated body `content` (its data maps) of `resource`. */
export function storedMapCauses(resource: string, labels: JsonMap | undefined, annotations: JsonMap | undefined, content: JsonMap): StatusCause[] {
  const size = (map: unknown) => (isJson(map) ? Object.keys(map).length : 0);
  const counts = new Map<string, number>();
  for (const field of mapFields(resource)) if (!field.startsWith('metadata.')) counts.set(field, size(content[field]));
  counts.set('metadata.labels', size(labels));
  counts.set('metadata.annotations', size(annotations));
  return togetherCauses(resource, counts);
}
