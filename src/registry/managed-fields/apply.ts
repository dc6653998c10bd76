/**
 * Server-side apply over tracked views (view.ts): the applied configuration is merged into the live
 * object; a field another manager owns whose value the apply would change is a conflict (refused, or
 * taken over with force); the applier then owns exactly the fields it applied, and a field it applied
 * before and no longer does is removed from the object — unless a manager (another, or the applier now)
 * owns it or a field below it. A node the applier owned (an applied empty map, list or struct, or the
 * `.` of a node kubectl moved to it from the client-side applier's entry) thus stays while anyone owns
 * anything in it, and goes, with all it holds, only when no one does: a prune never removes a field
 * another manager owns, as in structured-merge-diff.
 *
 * A caller who may not read the object's values applies blind (`blindAt`: a Secret's data, stringData and
 * kubectl's last-applied annotation for a caller who may not get it). Whether such a field conflicts
 * depends on whether it exists, who owns it and whether a guess equals its value — all hidden from the
 * caller. So an apply that sets one is refused without force (`blind`), whatever the object holds, and
 * with force takes it whatever the values: the answer is the same for every state the caller cannot see.
 * Its prune likewise never removes whole a node that may hold such a field (`mayHoldBlindAt`: a Secret's
 * data, its annotations), since whether another manager owns something in it is hidden: it removes only
 * the fields below that it owned and no one else does.
 */
import { equalValues } from '../equal-values.ts';
import { setOwnMember } from '../../base/index.ts';
import { type FieldPath, FieldSet, itemElement, leavesOf, listTypeAt, nodesOf, pathString, withParents } from './field-set.ts';
import { type Manager, sameManager } from './entries.ts';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The manager Kubernetes names as the owner of every field of an object that had none before its first apply. */
export const beforeFirstApplyManager = 'before-first-apply';

export interface ApplyInput {
  /** The live object's tracked view. */
  live: Json;
  liveManagers: readonly Manager[];
  /** The applied configuration's tracked view. */
  config: Json;
  manager: string;
  force: boolean;
  now: string;
  /** Fields the caller may not see, nor so their values or owners (registry/hidden-fields.ts for a caller who may not get a Secret). */
  blindAt?: (path: FieldPath) => boolean;
  /** Nodes that may hold such a field below them: whether anyone owns something in one is hidden too, so the prune never removes one whole. */
  mayHoldBlindAt?: (path: FieldPath) => boolean;
}

export interface ApplyConflict {
  manager: Manager;
  path: FieldPath;
}

/** Merged; or refused for conflicts (named); or refused, without force, for setting a field the caller may not see (`blind`: named by nothing the object holds). */
export type ApplyOutcome = { view: Json; managers: Manager[] } | { conflicts: ApplyConflict[] } | { blind: true };

export function applyConfiguration(input: ApplyInput): ApplyOutcome {
  const { live, config, manager, force, now } = input;
  const applier = { manager, operation: 'Apply' as const };
  const liveNodes = input.liveManagers.length > 0 ? [] : nodesOf(live);
  let managers: Manager[] = liveNodes.length === 0
    ? [...input.liveManagers]
    : [{ manager: beforeFirstApplyManager, operation: 'Update', time: now, fields: FieldSet.ofNodes(liveNodes) }];
  const applied = leavesOf(config);
  const blind = new FieldSet([...applied].filter((path) => input.blindAt?.(path) === true));
  if (blind.size > 0 && !force) return { blind: true };
  // A copy: the live view may share objects with the stored object, which others read.
  const merged = mergeView(structuredClone(live), config, []) as Json;
  const differs = new FieldSet([...applied].filter((path) => !equalValues(valueAt(live, path), valueAt(merged, path))));
  const contested = differs.union(blind);
  const conflicts: ApplyConflict[] = [];
  for (const other of managers) {
    if (sameManager(other, applier)) continue;
    for (const path of other.fields.intersect(contested).sorted()) conflicts.push({ manager: other, path });
  }
  if (conflicts.length > 0 && !force) return { conflicts };
  managers = managers.map((m) => (sameManager(m, applier) ? m : { ...m, fields: m.fields.minus(contested) }));
  const previous = managers.find((m) => sameManager(m, applier));
  const others = managers.filter((m) => !sameManager(m, applier)).reduce((set, m) => set.union(m.fields), new FieldSet());
  // Every node above an owned field counts as owned (withParents): the applier's own nodes too, as structured-merge-diff's prune does.
  const stopped = withParents(previous?.fields ?? new FieldSet()).minus(applied);
  const unowned = stopped.size === 0 ? stopped : stopped.minus(withParents(applied.union(others)));
  // A blind apply never prunes whole a node that may hold a field it may not see (see above).
  const mayHoldBlind = input.mayHoldBlindAt;
  const pruned = mayHoldBlind === undefined ? unowned : new FieldSet([...unowned].filter((path) => !mayHoldBlind(path)));
  // Deepest first, so a list item goes before the list that holds it. Nothing below a pruned node is owned by anyone.
  for (const path of pruned.sorted().sort((a, b) => b.length - a.length)) removeAt(merged, path);
  const mine: Manager = {
    manager, operation: 'Apply', fields: applied,
    // Unchanged object and ownership: the time stays, so applying the same configuration again writes nothing.
    // A blind field counts as changed (`contested`): whether its value was equal is not the caller's to know.
    time: previous !== undefined && contested.size === 0 && conflicts.length === 0 && pruned.size === 0 && sameSet(applied, previous.fields) ? previous.time : now,
  };
  managers = previous === undefined ? [...managers, mine] : managers.map((m) => (m === previous ? mine : m));
  return { view: merged, managers };
}

/** Kubernetes' message: `Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.key`. */
export function conflictMessage(conflicts: readonly ApplyConflict[], apiVersion: string): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${managerName(conflicts[0]!.manager, apiVersion)}: ${pathString(conflicts[0]!.path)}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const name = managerName(c.manager, apiVersion);
    byManager.set(name, [...(byManager.get(name) ?? []), pathString(c.path)]);
  }
  const lines = [...byManager.keys()].sort().flatMap((name) => [`conflicts with ${name}:`, ...byManager.get(name)!.map((p) => `- ${p}`)]);
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

function sameSet(a: FieldSet, b: FieldSet): boolean {
  return a.size === b.size && a.minus(b).size === 0;
}

export function managerName(manager: Manager, apiVersion: string): string {
  return manager.operation === 'Update' ? `${JSON.stringify(manager.manager)} using ${apiVersion}` : JSON.stringify(manager.manager);
}

/** The configuration merged into the live object: objects key by key, sets and keyed lists item by item, anything else replaced. */
function mergeView(live: unknown, config: unknown, path: FieldPath): unknown {
  if (Array.isArray(config) && Array.isArray(live)) {
    const listType = listTypeAt(path);
    if (listType === 'atomic') return structuredClone(config);
    const element = (item: unknown): string => itemElement(listType, item);
    const items: unknown[] = config;
    const fromConfig = new Map<string, unknown>(items.map((item) => [element(item), item]));
    const kept: unknown[] = (live as unknown[]).map((item) => (fromConfig.has(element(item)) ? fromConfig.get(element(item)) : item));
    const keptElements = new Set(kept.map(element));
    return structuredClone([...kept, ...items.filter((item) => !keptElements.has(element(item)))]);
  }
  if (!isObj(config) || !isObj(live)) return structuredClone(config);
  const out: Json = {};
  for (const [key, value] of Object.entries(live)) setOwnMember(out, key, value);
  for (const [key, value] of Object.entries(config)) setOwnMember(out, key, mergeView(live[key], value, [...path, `f:${key}`]));
  return out;
}

function childAt(node: unknown, element: string): unknown {
  if (element.startsWith('f:')) return isObj(node) && Object.hasOwn(node, element.slice(2)) ? node[element.slice(2)] : undefined;
  if (!Array.isArray(node)) return undefined;
  const type = element.startsWith('v:') ? 'set' : 'keyed';
  return node.find((item) => itemElement(type, item) === element);
}

function valueAt(view: Json, path: FieldPath): unknown {
  let node: unknown = view;
  for (const element of path) node = childAt(node, element);
  return node;
}

function removeAt(view: Json, path: FieldPath): void {
  const parent = valueAt(view, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (last.startsWith('f:') && isObj(parent)) delete parent[last.slice(2)];
  else if (Array.isArray(parent)) {
    const type = last.startsWith('v:') ? 'set' : 'keyed';
    const at = parent.findIndex((item) => itemElement(type, item) === last);
    if (at >= 0) parent.splice(at, 1);
  }
}
