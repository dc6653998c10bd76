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

/**
 * A set of paths, each under its key: the path as JSON (`["f:data","f:password"]`), which no two paths
 * share. Sets made from sets (union, minus, intersect) reuse the keys, so a path is spelled once however
 * many sets it passes through: an object with thousands of keys has thousands of paths, on every write.
 */
export class FieldSet implements Iterable<FieldPath> {
  private readonly paths: Map<string, FieldPath>;

  constructor(paths: Iterable<FieldPath> = []) {
    this.paths = new Map();
    for (const path of paths) this.add(path);
  }

  /** The set of `nodes` (from nodesOf), keyed as they come. */
  static ofNodes(nodes: Iterable<FieldNode>): FieldSet {
    const set = new FieldSet();
    for (const node of nodes) set.paths.set(node.key, node.path);
    return set;
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
    const out = this.filtered(() => true);
    for (const [key, path] of other.paths) out.paths.set(key, path);
    return out;
  }

  minus(other: FieldSet): FieldSet {
    return this.filtered((key) => !other.paths.has(key));
  }

  intersect(other: FieldSet): FieldSet {
    return this.filtered((key) => other.paths.has(key));
  }

  /** Paths sorted the same way whatever order they were added in. */
  sorted(): FieldPath[] {
    return [...this.paths.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
  }

  private filtered(keep: (key: string) => boolean): FieldSet {
    const out = new FieldSet();
    for (const [key, path] of this.paths) if (keep(key)) out.paths.set(key, path);
    return out;
  }
}

/** One node of an object: its path (and the path's key in a FieldSet), its value, and whether it is owned whole (no child nodes). */
export interface FieldNode {
  path: FieldPath;
  key: string;
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
  // `open` is the path's key without its closing bracket, so a child's key is its parent's and one element more.
  const visit = (path: FieldPath, open: string, value: unknown): void => {
    const key = `${open}]`;
    if (Array.isArray(value)) {
      const listType = listTypeAt(path);
      if (listType === 'atomic') {
        nodes.push({ path, key, value, leaf: true });
        return;
      }
      nodes.push({ path, key, value, leaf: value.length === 0 });
      for (const item of value) {
        const element = itemElement(listType, item);
        nodes.push({ path: [...path, element], key: `${open},${JSON.stringify(element)}]`, value: item, leaf: true });
      }
      return;
    }
    const whole = !isObj(value) || path.length >= managedFieldsDepthMax || isEmpty(value);
    nodes.push({ path, key, value, leaf: whole });
    if (whole) return;
    for (const name in value) {
      if (!Object.hasOwn(value, name)) continue;
      const element = `f:${name}`;
      visit([...path, element], `${open},${JSON.stringify(element)}`, value[name]);
    }
  };
  for (const [name, child] of Object.entries(view)) {
    if (name === 'metadata' && isObj(child)) {
      for (const [metaName, metaChild] of Object.entries(child)) visit(['f:metadata', `f:${metaName}`], `["f:metadata",${JSON.stringify(`f:${metaName}`)}`, metaChild);
    } else visit([`f:${name}`], `[${JSON.stringify(`f:${name}`)}`, child);
  }
  return nodes;
}

function isEmpty(value: Json): boolean {
  for (const name in value) if (Object.hasOwn(value, name)) return false;
  return true;
}

/** The leaves of a view: what an applied configuration owns. */
export function leavesOf(view: Json): FieldSet {
  return FieldSet.ofNodes(nodesOf(view).filter((n) => n.leaf));
}

/**
 * The set with every node above each of its paths (never `metadata` itself, which is no node): the fields
 * a manager holds a stake in, as structured-merge-diff counts them when it prunes. A manager owning
 * `data.password` has a stake in `data`, so another's prune of `data` must leave it.
 */
export function withParents(set: FieldSet): FieldSet {
  const out = set.union(new FieldSet());
  for (const path of set) {
    for (let end = path.length - 1; end >= (path[0] === 'f:metadata' ? 2 : 1); end -= 1) {
      const parent = path.slice(0, end);
      if (out.has(parent)) break; // and so are the nodes above it
      out.add(parent);
    }
  }
  return out;
}

/** What changed from `before` to `after` (views, or `after`'s nodes when the caller has them): nodes added, leaves whose value changed, nodes removed. */
export function compare(before: Json, after: Json | readonly FieldNode[]): { added: FieldSet; modified: FieldSet; removed: FieldSet } {
  const old = new Map(nodesOf(before).map((n) => [n.key, n]));
  const next = Array.isArray(after) ? after as readonly FieldNode[] : nodesOf(after as Json);
  const nextKeys = new Set<string>();
  const added: FieldNode[] = [];
  const modified: FieldNode[] = [];
  for (const node of next) {
    nextKeys.add(node.key);
    const was = old.get(node.key);
    if (was === undefined) added.push(node);
    else if ((node.leaf || was.leaf) && !equalValues(node.value, was.value)) modified.push(node);
  }
  const removed = [...old.values()].filter((node) => !nextKeys.has(node.key));
  return { added: FieldSet.ofNodes(added), modified: FieldSet.ofNodes(modified), removed: FieldSet.ofNodes(removed) };
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
  const members: Json[] = [];
  const parents = new Set<Json>();
  for (const path of set.sorted()) {
    let node = root;
    for (const element of path) {
      // An element is `f:`, `v:`, `k:` or `i:` and a name (nodesOf, fromFieldsV1): never `__proto__` nor an inherited member.
      let child = (Object.hasOwn(node, element) ? node[element] : undefined) as Json | undefined;
      if (child === undefined) {
        child = {};
        node[element] = child;
        parents.add(node);
      }
      node = child;
    }
    members.push(node);
  }
  for (const member of members) if (parents.has(member)) member['.'] = {};
  return root;
}

/** Reads FieldsV1 written by a client; undefined (with `problem` set) when it is not one. */
export function fromFieldsV1(value: unknown): { set: FieldSet } | { problem: string } {
  let problem: string | undefined;
  const nodes: FieldNode[] = [];
  // `open`: the path's key without its closing bracket (see nodesOf).
  const visit = (path: string[], open: string, node: unknown): void => {
    if (problem !== undefined) return;
    if (!isObj(node)) {
      problem = 'must be an object of field elements';
      return;
    }
    if (path.length > managedFieldsDepthMax) {
      problem = `is nested deeper than ${managedFieldsDepthMax} elements`;
      return;
    }
    const owned = { path, key: `${open}]`, value: undefined, leaf: true };
    if (isEmpty(node) && path.length > 0) nodes.push(owned);
    for (const element in node) {
      if (!Object.hasOwn(node, element)) continue;
      if (element === '.') {
        if (path.length > 0) nodes.push(owned);
        continue;
      }
      if (!/^[fvki]:/.test(element)) {
        problem = 'has an element that is not f:, v:, k:, i: or "."';
        return;
      }
      visit([...path, element], `${open}${path.length > 0 ? ',' : ''}${JSON.stringify(element)}`, node[element]);
    }
  };
  visit([], '[', value);
  return problem === undefined ? { set: FieldSet.ofNodes(nodes) } : { problem };
}
