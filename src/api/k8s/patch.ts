/**
 * PATCH bodies. For the kinds Coffer serves, a strategic merge patch behaves as a JSON merge patch
 * (RFC 7386): their maps (data, labels, annotations) merge key by key and their lists (RBAC rules,
 * subjects) have no merge key in Kubernetes, so they are replaced whole. Strategic directives are
 * honoured where they mean something for maps (`$patch: replace|delete`) and otherwise dropped
 * (`$setElementOrder/…`, `$retainKeys`, `$deleteFromPrimitiveList/…`). JSON Patch (RFC 6902) is
 * supported too. Pure functions; a bad patch is RegistryError BadRequest (or Invalid when a `test`
 * operation fails, as Kubernetes answers). Server-side apply is not a patch of the object as read: the
 * registry merges it with field ownership (registry/managed-fields/).
 *
 * What a patch may cost is bounded as Kubernetes bounds it since CVE-2019-1002100: a JSON patch holds at
 * most jsonPatchOperationsMax operations, and every value an operation adds, replaces or copies is counted
 * as it is applied — refused (413) once the object read plus these would pass valueBytesMax, the largest
 * object the store takes (a copy may take its source whole: copies of copies double). Nothing is
 * subtracted for what an operation removes, so the work of all copies together stays under that bound
 * too. The elements an insert or removal moves along an array are counted against
 * jsonPatchArrayShiftsMax. Every other step costs its path, and a `test` what its own value holds. Merge
 * patches recurse only as deep as their body, which the body parser bounds (requestBodyDepthMax).
 */
import { setOwnMember } from '../../base/index.ts';
import { jsonPatchArrayShiftsMax, jsonPatchOperationsMax, valueBytesMax } from '../../config/index.ts';
import { embeddingAnnotations, RegistryError } from '../../registry/index.ts';
import { applyContentType } from './apply-body.ts';

type Value = unknown;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export type PatchType = 'merge' | 'strategic' | 'json';

/** The patch a PATCH request's content type names; `apply` is server-side apply (the registry's apply). */
export function patchTypeOf(contentType: string | undefined): PatchType | 'apply' | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === applyContentType) return 'apply';
  if (type === 'application/merge-patch+json') return 'merge';
  if (type === 'application/strategic-merge-patch+json') return 'strategic';
  if (type === 'application/json-patch+json') return 'json';
  return undefined;
}

export function applyPatch(type: PatchType, target: Obj, patch: unknown): unknown {
  if (type === 'json') return jsonPatch(target, patch);
  if (!isObj(patch)) throw new RegistryError('BadRequest', 'a merge patch must be a JSON object');
  return mergePatch(target, patch, type === 'strategic');
}

/**
 * A JSON patch from a caller who may not get the Secret (registry WriteOptions.valueBlind), applied to the
 * object as it may see it: `data` an empty map, no embedding annotation (annotations always a map), no
 * managedFields. Whether an operation succeeds, and its error, so depend on nothing hidden — not on which
 * data keys exist, nor whether the Secret has any, nor whether kubectl's last-applied annotation is its
 * only annotation. The result is merged back: the keys it set over the stored data, the hidden
 * annotations under its annotations, managedFields kept (a write that sets them is refused: registry.ts,
 * refuseBlindManagedFields) — except where an operation replaced or removed a container whole (`/data`,
 * `/metadata/annotations`, `/metadata`, the whole object), which replaces what was hidden in it too. Operations that would read a hidden field are
 * refused before (routes.ts, checkJsonPatchReads); here they fail the same for every object.
 */
export function jsonPatchAsSeen(current: Obj, patch: unknown): unknown {
  const seen = structuredClone(current);
  const metadata: Obj = isObj(seen.metadata) ? seen.metadata : {};
  seen.metadata = metadata;
  delete metadata.managedFields;
  const annotations: Obj = isObj(metadata.annotations) ? metadata.annotations : {};
  const hidden: Obj = {};
  for (const name of embeddingAnnotations) {
    if (!Object.hasOwn(annotations, name)) continue;
    setOwnMember(hidden, name, annotations[name]);
    delete annotations[name];
  }
  metadata.annotations = annotations;
  seen.data = {};
  const patched = jsonPatch(seen, patch);
  if (!isObj(patched) || !Array.isArray(patch)) return patched;
  const operations: unknown[] = patch;
  // Whether an operation's path is the container or above it (every path parsed: the patch applied).
  const replacedWhole = (container: readonly string[]): boolean => operations.some((op, i) => {
    if (!isObj(op) || typeof op.path !== 'string') return false;
    const path = pointer(op.path, i);
    return path.length <= container.length && path.every((part, at) => part === container[at]);
  });
  const result: Obj = { ...patched };
  if (!replacedWhole(['data']) && isObj(patched.data)) result.data = { ...(isObj(current.data) ? current.data : {}), ...patched.data };
  const patchedMeta = patched.metadata;
  if (!replacedWhole(['metadata', 'annotations']) && isObj(patchedMeta) && isObj(patchedMeta.annotations)) {
    const merged: Obj = { ...hidden, ...patchedMeta.annotations };
    const had = isObj(current.metadata) && current.metadata.annotations !== undefined;
    const meta: Obj = { ...patchedMeta, annotations: merged };
    if (Object.keys(merged).length === 0 && !had) delete meta.annotations;
    result.metadata = meta;
  }
  return result;
}

function mergePatch(target: Value, patch: Value, strategic: boolean): Value {
  if (!isObj(patch)) return patch;
  if (strategic && patch.$patch === 'delete') return undefined;
  const replace = strategic && patch.$patch === 'replace';
  const result: Obj = isObj(target) && !replace ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith('$')) continue;
    if (strategic && (key.startsWith('$setElementOrder/') || key.startsWith('$deleteFromPrimitiveList/') || key === '$retainKeys')) continue;
    if (value === null) delete result[key];
    else {
      // Own members only, read and set: a key named "__proto__" (an own member, as JSON.parse makes it) is
      // merged like any other, never read from or set as the prototype.
      const merged = mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value, strategic);
      if (merged === undefined) delete result[key];
      else setOwnMember(result, key, merged);
    }
  }
  return result;
}

function jsonPatch(target: Obj, patch: unknown): Value {
  if (!Array.isArray(patch)) throw new RegistryError('BadRequest', 'a JSON patch must be an array of operations');
  if (patch.length > jsonPatchOperationsMax) {
    throw new RegistryError('RequestEntityTooLarge', `a JSON patch may hold at most ${jsonPatchOperationsMax} operations; this one holds ${patch.length}`);
  }
  let bytes = 0;
  /** A copy of `value` to put in the document, counted: refused once the document could pass valueBytesMax. */
  const counted = (value: Value, i: number): Value => {
    const text = JSON.stringify(value);
    bytes += Buffer.byteLength(text);
    if (bytes > valueBytesMax) {
      throw new RegistryError('RequestEntityTooLarge', `JSON patch operation ${i}: the object would be larger than ${valueBytesMax} bytes (its size plus every value the patch adds, replaces or copies)`);
    }
    return JSON.parse(text) as Value;
  };
  let shifts = 0;
  /** Counts the elements an insert or removal in an array is about to move: refused past jsonPatchArrayShiftsMax. */
  const shift = (elements: number, i: number): void => {
    shifts += elements;
    if (shifts > jsonPatchArrayShiftsMax) {
      throw new RegistryError('RequestEntityTooLarge', `JSON patch operation ${i}: the patch would move more than ${jsonPatchArrayShiftsMax} array elements (each insert or removal moves those after it)`);
    }
  };
  let doc = counted(target, 0);
  patch.forEach((operation: unknown, i) => {
    if (!isObj(operation) || typeof operation.op !== 'string' || typeof operation.path !== 'string') {
      throw new RegistryError('BadRequest', `JSON patch operation ${i}: must have string op and path`);
    }
    const path = pointer(operation.path, i);
    switch (operation.op) {
      case 'add': doc = put(doc, path, counted(need(operation, 'value', i), i), 'add', i, shift); break;
      case 'replace': get(doc, path, i); doc = put(doc, path, counted(need(operation, 'value', i), i), 'replace', i, shift); break;
      case 'remove': get(doc, path, i); doc = remove(doc, path, i, shift); break;
      case 'move': {
        const from = pointer(fromOf(operation, i), i);
        const value = get(doc, from, i);
        doc = put(remove(doc, from, i, shift), path, value, 'add', i, shift);
        break;
      }
      case 'copy': doc = put(doc, path, counted(get(doc, pointer(fromOf(operation, i), i), i), i), 'add', i, shift); break;
      case 'test':
        if (!sameJson(get(doc, path, i), need(operation, 'value', i))) {
          throw new RegistryError('Invalid', `JSON patch operation ${i}: test failed at ${operation.path}`);
        }
        break;
      default: throw new RegistryError('BadRequest', `JSON patch operation ${i}: unknown op ${JSON.stringify(operation.op.slice(0, 32))}`);
    }
  });
  return doc;
}

/**
 * Whether `actual` equals `expected` as RFC 6902's test compares JSON values (an object's members in any
 * order). It walks `expected`, the patch's own value, and stops at the first difference, so only a test
 * that fails (and so ends the patch) may cost more than that value: counting the members of `actual`.
 */
function sameJson(actual: Value, expected: Value): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((item, at) => sameJson(actual[at], item));
  if (!isObj(expected)) return actual === expected;
  if (!isObj(actual)) return false;
  const keys = Object.keys(expected);
  return keys.every((key) => Object.hasOwn(actual, key) && sameJson(actual[key], expected[key])) && Object.keys(actual).length === keys.length;
}

function need(operation: Obj, field: string, i: number): Value {
  if (!(field in operation)) throw new RegistryError('BadRequest', `JSON patch operation ${i}: ${field} is required`);
  return operation[field];
}

function fromOf(operation: Obj, i: number): string {
  if (typeof operation.from !== 'string') throw new RegistryError('BadRequest', `JSON patch operation ${i}: from is required`);
  return operation.from;
}

/** A JSON pointer's segments, unescaped as a patch reads them; undefined when it is not one. */
export function pointerSegments(text: string): string[] | undefined {
  try {
    return pointer(text, 0);
  } catch {
    return undefined;
  }
}

function pointer(text: string, i: number): string[] {
  if (text === '') return [];
  if (!text.startsWith('/')) throw new RegistryError('BadRequest', `JSON patch operation ${i}: path must start with '/'`);
  const parts = text.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts.includes('__proto__')) throw new RegistryError('BadRequest', `JSON patch operation ${i}: path may not name __proto__`);
  return parts;
}

function get(doc: Value, path: string[], i: number): Value {
  let node = doc;
  for (const part of path) {
    if (Array.isArray(node)) node = node[index(part, node.length - 1, i)];
    else if (isObj(node) && Object.hasOwn(node, part)) node = node[part];
    else throw new RegistryError('BadRequest', `JSON patch operation ${i}: path not found`);
  }
  return node;
}

/** Counts the array elements an insert or removal by operation `i` is about to move. */
type Shift = (elements: number, i: number) => void;

function put(doc: Value, path: string[], value: Value, mode: 'add' | 'replace', i: number, shift: Shift): Value {
  if (path.length === 0) return value;
  const parent = get(doc, path.slice(0, -1), i);
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    if (last === '-' && mode === 'add') parent.push(value);
    else if (mode === 'add') {
      const at = index(last, parent.length, i);
      shift(parent.length - at, i);
      parent.splice(at, 0, value);
    } else parent[index(last, parent.length - 1, i)] = value;
  } else if (isObj(parent)) parent[last] = value;
  else throw new RegistryError('BadRequest', `JSON patch operation ${i}: parent is not a container`);
  return doc;
}

function remove(doc: Value, path: string[], i: number, shift: Shift): Value {
  if (path.length === 0) throw new RegistryError('BadRequest', `JSON patch operation ${i}: cannot remove the whole document`);
  const parent = get(doc, path.slice(0, -1), i);
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const at = index(last, parent.length - 1, i);
    shift(parent.length - at - 1, i);
    parent.splice(at, 1);
  } else if (isObj(parent)) delete parent[last];
  return doc;
}

function index(part: string, max: number, i: number): number {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(part) || Number(part) > max) throw new RegistryError('BadRequest', `JSON patch operation ${i}: array index out of range`);
  return Number(part);
}
