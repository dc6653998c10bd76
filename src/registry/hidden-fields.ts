/**
 * What a caller who may not `get` a Secret may not see of it (docs/security.md, "Values reach only callers
 * who may get them"), in one place: its values (`data`; `stringData` and `binaryData`, which a write may
 * send), annotations that may hold a whole copy of the object (kubectl's last-applied configuration), and
 * `metadata.managedFields` (they name the data keys, and who owns which depends on whether a value sent
 * equalled the stored one). Read by the redacted presentation (api/k8s/presentation.ts), by JSON patches
 * from such a caller (api/k8s/routes.ts, patch.ts), by its server-side applies and by the field ownership
 * of its other writes (registry.ts), so none of them can answer by anything these hold — a value, a key,
 * whether a field exists or who owns it.
 */
import type { FieldPath } from './managed-fields/index.ts';
import { isJson, type Json, type StoredObject } from './object.ts';

/** Annotations that may hold a whole copy of the object, values included. */
export const embeddingAnnotations: readonly string[] = ['kubectl.kubernetes.io/last-applied-configuration'];

/** A Secret's fields that hold values: top-level maps of keys. */
const valueFields: readonly string[] = ['data', 'stringData', 'binaryData'];

/**
 * Whether an object path (JSON pointer segments, unescaped) is at or below a field hidden from a caller
 * who may not get the Secret: `/data…`, `/stringData…`, `/binaryData…`, `/metadata/managedFields…`, an
 * embedding annotation or anything below it. `/metadata/annotations` itself is not: the caller sees it.
 */
export function isHiddenSecretPath(segments: readonly string[]): boolean {
  const [first, second, third] = segments;
  if (first === undefined) return false;
  if (valueFields.includes(first)) return true;
  if (first !== 'metadata') return false;
  if (second === 'managedFields') return true;
  return second === 'annotations' && third !== undefined && embeddingAnnotations.includes(third);
}

/**
 * Whether a path is strictly inside a hidden field's value — below a data key (`/data/<key>/…`), inside
 * managedFields (`/metadata/managedFields/…`) or below an embedding annotation — where only an operation
 * that knows the hidden structure could succeed. Setting a key, an embedding annotation or the whole
 * managedFields list is not inside.
 */
export function isInsideHiddenSecretValue(segments: readonly string[]): boolean {
  if (!isHiddenSecretPath(segments)) return false;
  return segments.length > (segments[0] === 'metadata' && segments[1] === 'annotations' ? 3 : 2);
}

/** The same for a managed-fields path (`f:data`, `f:password`): a field a blind server-side apply may not compare. */
export function isHiddenSecretField(path: FieldPath): boolean {
  return isHiddenSecretPath(path.map((element) => (element.startsWith('f:') ? element.slice(2) : element)));
}

/**
 * Whether a managed-fields node may hold a hidden field below it: a Secret's data (its keys) and the
 * annotations (an embedding one). Whether anyone owns something in such a node is hidden as well, so a
 * blind apply's prune never removes one whole (managed-fields/apply.ts).
 */
export function mayHoldHiddenSecretField(path: FieldPath): boolean {
  const names = path.map((element) => (element.startsWith('f:') ? element.slice(2) : element));
  return (names.length === 1 && valueFields.includes(names[0]!)) || (names.length === 2 && names[0] === 'metadata' && names[1] === 'annotations');
}

/**
 * The Secret as a value-blind write (registry.ts, WriteOptions.valueBlind) may see it: no data (nor
 * stringData or binaryData), no embedding annotation, no managedFields. A write computed again on it holds
 * exactly the hidden fields the write itself sets (hiddenSecretFieldsOf), whatever the Secret holds.
 */
export function withoutHiddenSecretFields(object: StoredObject): StoredObject {
  const { data: _d, stringData: _s, binaryData: _b, metadata, ...rest } = object;
  const { managedFields: _m, ...meta } = metadata;
  if (meta.annotations !== undefined) {
    const annotations = { ...meta.annotations };
    for (const name of embeddingAnnotations) delete annotations[name];
    meta.annotations = annotations;
  }
  return { ...rest, metadata: meta };
}

/**
 * The hidden fields a Secret body sets, as managed-fields paths: each key of its data and stringData (a
 * data key either way; a Secret has no binaryData), and each embedding annotation.
 */
export function hiddenSecretFieldsOf(body: Json): FieldPath[] {
  const paths: FieldPath[] = [];
  for (const field of ['data', 'stringData']) {
    const values = body[field];
    if (isJson(values)) for (const key of Object.keys(values)) paths.push(['f:data', `f:${key}`]);
  }
  const annotations = isJson(body.metadata) ? body.metadata.annotations : undefined;
  if (isJson(annotations)) {
    for (const name of embeddingAnnotations) if (Object.hasOwn(annotations, name)) paths.push(['f:metadata', 'f:annotations', `f:${name}`]);
  }
  return paths;
}
