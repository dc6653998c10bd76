/**
 * Field sets: which fields of an object a manager owns, as Kubernetes' structured-merge-diff names
 * them. A path is a list of elements spelled as in FieldsV1: `f:<name>` a field of an object, `v:<json>`
 * a value of a set list, `k:<json>` an element of a list keyed by its fields. Only names, never values:
 * a data key's path is `f:data`, `f:<key>` and nothing of what it holds (a finalizer or an owner
 * reference uid is a name, not a value).
 *
 * The schema of the kinds Coffer serves, as Kubernetes declares it: maps and structs are granular (each
 * key its own field); `metadata.finalizers` is a set; `metadata.ownerReferences` is keyed by uid (an
 * element is owned whole, its subfields are not tracked apart); every other list (RBAC rules, subjects,
 * aggregation selectors) is atomic. Nodes deeper than managedFieldsDepthMax are owned whole.
 */
import { equalValues } from '../equal-values.ts';
import { managedFieldsDepthMax } from '../../config/index.ts';

export type FieldPath = readonly string[];

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A set of paths. */
export class FieldSet implements Iterable<FieldPath> {
  private readonly paths = new Map<string, FieldPath>();

  constructor(paths: Iterable<FieldPath> = []) {
    for (const path of paths) this.add(path);
  }

  add(path: FieldPath): void {
    this.paths.set(JSON.stringify(path), path);
  }

  has(path: FieldPath): boolean {
    return this.paths.has(JSON.stringify(path));
  }

  get size(): number {
    return this.paths.size;
  }

  [Symbol.iterator](): Iterator<FieldPath> {
    return this.paths.values();
  }

  union(other: FieldSet): FieldSet {
    return new FieldSet([...this, ...other]);
  }

  minus(other: FieldSet): FieldSet {
    return new FieldSet([...this].filter((p) => !other.has(p)));
  }

  intersect(other: FieldSet): FieldSet {
    return new FieldSet([...this].filter((p) => other.has(p)));
  }

  /** Paths sorted the same way whatever order they were added in. */
  sorted(): FieldPath[] {
    return [...this.paths.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
  }
}

/** One node of an object: its path, its value, and whether it is owned whole (no child nodes). */
export interface FieldNode {
  path: FieldPath;
  value: unknown;
  leaf: boolean;
}

const finalizersPath = JSON.stringify(['f:metadata', 'f:finalizers']);
const ownerReferencesPath = JSON.stringify(['f:metadata', 'f:ownerReferences']);

/** How the list at `path` is merged: a set of values, keyed by uid, or replaced whole. */
export function listTypeAt(path: FieldPath): 'set' | 'keyed' | 'atomic' {
  const key = JSON.stringify(path);
  if (key === finalizersPath) return 'set';
  if (key === ownerReferencesPath) return 'keyed';
  return 'atomic';
}

/** The element naming a list item: `v:<json>` of a set's value, `k:{"uid":…}` of a keyed item. */
export function itemElement(listType: 'set' | 'keyed', item: unknown): string {
  if (listType === 'set') return `v:${JSON.stringify(item)}`;
  const uid = isObj(item) ? item.uid : undefined;
  return `k:${JSON.stringify({ uid })}`;
}

/**
 * Every node of a tracked view of an object (the fields a client sets: metadata's labels,
 * annotations, finalizers and owner references, and the kind's body), except the always-present
 * `metadata` itself. A node whose object is empty, a scalar, an atomic list and a list item are leaves.
 */
export function nodesOf(view: Json): FieldNode[] {
  const nodes: FieldNode[] = [];
  const visit = (path: FieldPath, value: unknown): void => {
    if (Array.isArray(value)) {
      const listType = listTypeAt(path);
      if (listType === 'atomic') {
        nodes.push({ path, value, leaf: true });
        return;
      }
      nodes.push({ path, value, leaf: value.length === 0 });
      for (const item of value) nodes.push({ path: [...path, itemElement(listType, item)], value: item, leaf: true });
      return;
    }
    const entries = isObj(value) ? Object.entries(value) : [];
    const whole = !isObj(value) || entries.length === 0 || path.length >= managedFieldsDepthMax;
    nodes.push({ path, value, leaf: whole });
    if (!whole) for (const [key, child] of entries) visit([...path, `f:${key}`], child);
  };
  for (const [key, child] of Object.entries(view)) {
    if (key === 'metadata' && isObj(child)) {
      for (const [metaKey, metaChild] of Object.entries(child)) visit(['f:metadata', `f:${metaKey}`], metaChild);
    } else visit([`f:${key}`], child);
  }
  return nodes;
}

/** The leaves of a view: what an applied configuration owns. */
export function leavesOf(view: Json): FieldSet {
  return new FieldSet(nodesOf(view).filter((n) => n.leaf).map((n) => n.path));
}

/** What changed from `before` to `after` (views): nodes added, leaves whose value changed, nodes removed. */
export function compare(before: Json, after: Json): { added: FieldSet; modified: FieldSet; removed: FieldSet } {
  const old = new Map(nodesOf(before).map((n) => [JSON.stringify(n.path), n]));
  const next = new Map(nodesOf(after).map((n) => [JSON.stringify(n.path), n]));
  const added = new FieldSet();
  const modified = new FieldSet();
  const removed = new FieldSet();
  for (const [key, node] of next) {
    const was = old.get(key);
    if (was === undefined) added.add(node.path);
    else if ((node.leaf || was.leaf) && !equalValues(node.value, was.value)) modified.add(node.path);
  }
  for (const [key, node] of old) if (!next.has(key)) removed.add(node.path);
  return { added, modified, removed };
}

/** A path as Kubernetes prints it in a conflict: `.data.password`, `.metadata.finalizers[="x"]`, `.metadata.ownerReferences[uid="…"]`. */
export function pathString(path: FieldPath): string {
  return path.map((element) => {
    const body = element.slice(2);
    if (element.startsWith('f:')) return `.${body}`;
    if (element.startsWith('v:')) return `[=${body}]`;
    if (element.startsWith('k:')) {
      const key = safeParse(body);
      return isObj(key) ? `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]` : `[${body}]`;
    }
    return `[${body}]`;
  }).join('');
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** FieldsV1: the set as a tree of elements, `.` marking a node that is itself owned and has owned children. */
export function toFieldsV1(set: FieldSet): Json {
  const root: Json = {};
  const members = new Set<Json>();
  for (const path of set.sorted()) {
    let node = root;
    for (const element of path) {
      let child = node[element] as Json | undefined;
      if (child === undefined) {
        child = {};
        Object.defineProperty(node, element, { value: child, enumerable: true, writable: true, configurable: true });
      }
      node = child;
    }
    members.add(node);
  }
  const mark = (node: Json): void => {
    for (const child of Object.values(node) as Json[]) {
      if (Object.keys(child).length > 0) {
        if (members.has(child)) child['.'] = {};
        mark(child);
      }
    }
  };
  mark(root);
  return root;
}

/** Reads FieldsV1 written by a client; undefined (with `problem` set) when it is not one. */
export function fromFieldsV1(value: unknown): { set: FieldSet } | { problem: string } {
  const set = new FieldSet();
  let problem: string | undefined;
  const visit = (path: string[], node: unknown): void => {
    if (problem !== undefined) return;
    if (!isObj(node)) {
      problem = 'must be an object of field elements';
      return;
    }
    if (path.length > managedFieldsDepthMax) {
      problem = `is nested deeper than ${managedFieldsDepthMax} elements`;
      return;
    }
    const entries = Object.entries(node);
    if (entries.length === 0 && path.length > 0) set.add(path);
    for (const [element, child] of entries) {
      if (element === '.') {
        if (path.length > 0) set.add(path);
        continue;
      }
      if (!/^[fvki]:/.test(element)) {
        problem = 'has an element that is not f:, v:, k:, i: or "."';
        return;
      }
      visit([...path, element], child);
    }
  };
  visit([], value);
  return problem === undefined ? { set } : { problem };
}
