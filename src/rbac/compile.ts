/**
 * Compiling a set of validated RBAC objects into the index the evaluator reads: each binding has its
 * role's rules resolved and compiled, and is filed under every user and group it names, cluster-wide
 * (ClusterRoleBinding) or per namespace (RoleBinding). Evaluating a request then touches only the
 * bindings of its own user and groups.
 *
 * The policy is immutable: when an RBAC object changes, the holder compiles the new set and swaps the
 * reference. A binding whose role does not exist grants nothing (as in Kubernetes) and is listed in
 * `danglingBindings` so an operator can see it. A caller that compiles again after a few objects changed
 * passes the same `CompiledRulesCache` each time: the rules of a role object compiled before are taken
 * from it (by the identity of the object's `rules` array, which nobody mutates once parsed), so only the
 * changed roles' rules are compiled again; indexing the bindings is redone, O(bindings and subjects).
 *
 * Invariant: within each index list, bindings appear in `order` — ClusterRoleBindings by name, then
 * RoleBindings by namespace and name — so the binding named in a decision does not depend on the order
 * the objects arrived in.
 *
 * The index files roles, not bindings: under each user and group of each scope (cluster-wide, or one
 * namespace) it lists every distinct role some binding there grants to that subject once, as a
 * `RoleGrant` carrying the first binding in `order` that grants it; the list is in the order of those
 * first bindings. Evaluating a request, listing a caller's rules or checking escalation therefore costs
 * the distinct roles' rules, never bindings × rules: a thousand bindings of one role are one entry. The
 * decision is the same as walking every binding in `order`: the bindings of one role in one scope share
 * its rules, so the first matching binding is the first binding of the first matching role.
 */
import { RbacError } from './errors.ts';
import { type CompiledRule, compileRule } from './compiled-rule.ts';
import type { BindingKind, ClusterRoleBinding, PolicyRule, RbacObject, RoleBinding, RoleKind } from './model.ts';

export interface CompiledBinding {
  readonly order: number;
  readonly kind: BindingKind;
  readonly name: string;
  /** Set exactly for a RoleBinding. */
  readonly namespace: string | undefined;
  readonly roleKind: RoleKind;
  readonly roleName: string;
  readonly rules: readonly CompiledRule[];
  /** The same rules as written, for the escalation check (which compares rules with rules). */
  readonly policyRules: readonly PolicyRule[];
}

export interface DanglingBinding {
  kind: BindingKind;
  namespace: string | undefined;
  name: string;
  roleKind: RoleKind;
  roleName: string;
}

/** A role as one scope of the index grants it to one subject (see the header). */
export interface RoleGrant {
  /** roleKey(kind, namespace, name) of the role. */
  readonly roleKey: string;
  readonly rules: readonly CompiledRule[];
  readonly policyRules: readonly PolicyRule[];
  /** The first binding, in `order`, of those in this scope that grant the role to this subject. */
  readonly binding: CompiledBinding;
}

interface SubjectIndex {
  /** Each list holds distinct roles, by their first binding's `order`. */
  readonly byUser: ReadonlyMap<string, readonly RoleGrant[]>;
  readonly byGroup: ReadonlyMap<string, readonly RoleGrant[]>;
}

export interface CompiledPolicy {
  readonly cluster: SubjectIndex;
  /** RoleBindings, by namespace. */
  readonly namespaced: ReadonlyMap<string, SubjectIndex>;
  readonly danglingBindings: readonly DanglingBinding[];
  /** Every role's rules as written, keyed by roleKey(kind, namespace, name). */
  readonly roleRules: ReadonlyMap<string, readonly PolicyRule[]>;
  readonly counts: { readonly roles: number; readonly clusterRoles: number; readonly roleBindings: number; readonly clusterRoleBindings: number };
}

/** Compiled rules by the `rules` array of the role object they were compiled from (see the header). */
export type CompiledRulesCache = WeakMap<readonly PolicyRule[], readonly CompiledRule[]>;

/** Throws RbacError DUPLICATE_OBJECT if two objects share kind, namespace and name. */
export function compilePolicy(objects: readonly RbacObject[], cache?: CompiledRulesCache): CompiledPolicy {
  // Both keyed by roleKey(kind, namespace, name).
  const compiledRoles = new Map<string, readonly CompiledRule[]>();
  const roleRules = new Map<string, readonly PolicyRule[]>();
  let roleCount = 0;
  const roleBindings: RoleBinding[] = [];
  const clusterRoleBindings: ClusterRoleBinding[] = [];
  const seen = new Set<string>();

  for (const object of objects) {
    const key = `${object.kind}\0${object.metadata.namespace ?? ''}\0${object.metadata.name}`;
    if (seen.has(key)) {
      const where = object.metadata.namespace === undefined ? '' : `${object.metadata.namespace}/`;
      throw new RbacError('DUPLICATE_OBJECT', `${object.kind} ${JSON.stringify(where + object.metadata.name)} appears more than once`);
    }
    seen.add(key);
    switch (object.kind) {
      case 'Role':
      case 'ClusterRole': {
        if (object.kind === 'Role') roleCount++;
        const key = roleKey(object.kind, object.metadata.namespace, object.metadata.name);
        let compiled = cache?.get(object.rules);
        if (compiled === undefined) {
          compiled = object.rules.map(compileRule);
          cache?.set(object.rules, compiled);
        }
        compiledRoles.set(key, compiled);
        roleRules.set(key, object.rules);
        break;
      }
      case 'RoleBinding': roleBindings.push(object); break;
      case 'ClusterRoleBinding': clusterRoleBindings.push(object); break;
    }
  }

  const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }): number => compare(a.metadata.name, b.metadata.name);
  clusterRoleBindings.sort(byName);
  roleBindings.sort((a, b) => compare(a.metadata.namespace, b.metadata.namespace) || byName(a, b));

  const cluster = newIndex();
  const namespaced = new Map<string, MutableIndex>();
  const danglingBindings: DanglingBinding[] = [];
  let order = 0;
  for (const binding of [...clusterRoleBindings, ...roleBindings]) {
    const namespace = binding.kind === 'RoleBinding' ? binding.metadata.namespace : undefined;
    const { kind: roleKind, name: roleName } = binding.roleRef;
    // A RoleBinding's Role is looked up in the binding's own namespace.
    const rules = compiledRoles.get(roleKey(roleKind, namespace, roleName));
    const policyRules = roleRules.get(roleKey(roleKind, namespace, roleName));
    if (rules === undefined || policyRules === undefined) {
      danglingBindings.push({ kind: binding.kind, namespace, name: binding.metadata.name, roleKind, roleName });
      continue;
    }
    const compiled: CompiledBinding = { order: order++, kind: binding.kind, name: binding.metadata.name, namespace, roleKind, roleName, rules, policyRules };
    const key = roleKey(roleKind, namespace, roleName);
    let index = cluster;
    if (namespace !== undefined) {
      index = namespaced.get(namespace) ?? newIndex();
      namespaced.set(namespace, index);
    }
    for (const subject of binding.subjects) {
      const map = subject.kind === 'User' ? index.byUser : index.byGroup;
      let filed = map.get(subject.name);
      if (filed === undefined) {
        filed = { grants: [], roles: new Set() };
        map.set(subject.name, filed);
      }
      // Bindings come in `order`, so the first one filed for a role is its first binding; later bindings
      // of the same role for the same subject (or the same binding naming the subject twice) add nothing.
      if (filed.roles.has(key)) continue;
      filed.roles.add(key);
      filed.grants.push({ roleKey: key, rules, policyRules, binding: compiled });
    }
  }

  return {
    cluster: frozen(cluster),
    namespaced: new Map([...namespaced].map(([namespace, index]) => [namespace, frozen(index)])),
    danglingBindings,
    roleRules,
    counts: { roles: roleCount, clusterRoles: compiledRoles.size - roleCount, roleBindings: roleBindings.length, clusterRoleBindings: clusterRoleBindings.length },
  };
}

interface Filed {
  grants: RoleGrant[];
  /** The role keys in `grants`. */
  roles: Set<string>;
}

interface MutableIndex {
  byUser: Map<string, Filed>;
  byGroup: Map<string, Filed>;
}

function newIndex(): MutableIndex {
  return { byUser: new Map(), byGroup: new Map() };
}

function frozen(index: MutableIndex): SubjectIndex {
  const lists = (map: Map<string, Filed>): Map<string, readonly RoleGrant[]> => new Map([...map].map(([subject, filed]) => [subject, filed.grants]));
  return { byUser: lists(index.byUser), byGroup: lists(index.byGroup) };
}

/** The key of a role in `roleRules`: a Role by namespace and name, a ClusterRole by name. */
export function roleKey(kind: RoleKind, namespace: string | undefined, name: string): string {
  return kind === 'ClusterRole' ? `ClusterRole\0${name}` : `Role\0${namespace ?? ''}\0${name}`;
}

/**
 * The roles in scope for a caller, each once, with the first binding (in `order`) that grants it to the
 * caller (as its user or one of its groups): those of every ClusterRoleBinding, plus those of the
 * RoleBindings of `namespace` when one is given; in the order of those first bindings. The lists are
 * the compiled index's; only a caller named by several of them (its user and groups, cluster-wide and in
 * the namespace) has them merged here, at the cost of the distinct roles they hold, not of bindings.
 * A role granted both cluster-wide and in the namespace (a ClusterRole) has the same rules in both, so
 * it is kept once, with the earlier binding.
 */
export function rolesInScope(policy: CompiledPolicy, caller: { user: string; groups: readonly string[] }, namespace: string | undefined): readonly RoleGrant[] {
  const lists: (readonly RoleGrant[])[] = [];
  const collect = (index: SubjectIndex | undefined): void => {
    if (index === undefined) return;
    const forUser = index.byUser.get(caller.user);
    if (forUser !== undefined) lists.push(forUser);
    for (const group of caller.groups) {
      const forGroup = index.byGroup.get(group);
      if (forGroup !== undefined) lists.push(forGroup);
    }
  };
  collect(policy.cluster);
  if (namespace !== undefined) collect(policy.namespaced.get(namespace));
  if (lists.length <= 1) return lists[0] ?? [];
  const first = new Map<string, RoleGrant>();
  for (const list of lists) {
    for (const grant of list) {
      const seen = first.get(grant.roleKey);
      if (seen === undefined || grant.binding.order < seen.binding.order) first.set(grant.roleKey, grant);
    }
  }
  return [...first.values()].sort((a, b) => a.binding.order - b.binding.order);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
