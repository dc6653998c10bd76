/**
 * Privilege-escalation prevention for writes of RBAC objects, with Kubernetes' rules. Being allowed
 * to create a Role or a binding is not enough; otherwise anyone who may write RoleBindings could bind
 * cluster-admin to themselves. The API calls this after `authorize` has allowed the write itself:
 *
 * - a Role or ClusterRole may be written by a caller who may `escalate` it, or who already holds every
 *   permission it grants (in the Role's namespace; cluster-wide for a ClusterRole);
 * - a RoleBinding or ClusterRoleBinding may be written by a caller who may `bind` the role it refers
 *   to, or who already holds every permission of that role (in the binding's namespace; cluster-wide
 *   for a ClusterRoleBinding).
 *
 * "Holds" is Kubernetes' rule coverage: each requested rule is broken into single permissions (one
 * verb, group, resource and name, or one verb and URL), and each must be covered by one rule the
 * caller has. A wildcard is covered only by the same wildcard. Pure: no I/O.
 *
 * Coffer is stricter in one case: `bind` on a ClusterRole, being about a cluster-scoped resource, is
 * granted only through a ClusterRoleBinding (catalogue.ts), never by a RoleBinding.
 */
import { rbacEscalationChecksMax } from '../config/index.ts';
import { authorize } from './authorize.ts';
import { type CompiledPolicy, roleKey, rolesInScope } from './compile.ts';
import { type PolicyRule, type RbacObject, rbacApiGroup, rbacResourceOf, wildcard } from './model.ts';

export interface RbacWriteDecision {
  allowed: boolean;
  reason: string;
  /** How an allowed write was justified. */
  grantedBy?: 'escalate' | 'bind' | 'coverage';
  /** For a refusal by coverage: the first permissions the caller does not hold (at most missingShownMax). */
  missing?: PolicyRule[];
}

interface Caller {
  user: string;
  groups: readonly string[];
}

/** Single permissions one refusal lists; the reason stays short. */
const missingShownMax = 5;

export function authorizeRbacWrite(policy: CompiledPolicy, caller: Caller, object: RbacObject): RbacWriteDecision {
  const namespace = object.kind === 'Role' || object.kind === 'RoleBinding' ? object.metadata.namespace : undefined;
  const where = namespace === undefined ? 'cluster-wide' : `in namespace ${JSON.stringify(namespace)}`;

  if (object.kind === 'Role' || object.kind === 'ClusterRole') {
    const mayEscalate = authorize(policy, {
      ...caller, verb: 'escalate', apiGroup: rbacApiGroup, resource: rbacResourceOf[object.kind], namespace, name: object.metadata.name,
    });
    if (mayEscalate.allowed) return { allowed: true, grantedBy: 'escalate', reason: `RBAC: may escalate ${object.kind} ${JSON.stringify(object.metadata.name)}` };
    return byCoverage(policy, caller, namespace, object.rules, `${object.kind} ${JSON.stringify(object.metadata.name)} grants`, where);
  }

  const ref = object.roleRef;
  const mayBind = authorize(policy, {
    ...caller, verb: 'bind', apiGroup: rbacApiGroup, resource: rbacResourceOf[ref.kind], namespace: ref.kind === 'Role' ? namespace : undefined, name: ref.name,
  });
  if (mayBind.allowed) return { allowed: true, grantedBy: 'bind', reason: `RBAC: may bind ${ref.kind} ${JSON.stringify(ref.name)}` };
  const rules = policy.roleRules.get(roleKey(ref.kind, namespace, ref.name));
  if (rules === undefined) {
    return { allowed: false, reason: `RBAC: ${ref.kind} ${JSON.stringify(ref.name)} does not exist ${where}; binding it needs the bind verb on it` };
  }
  return byCoverage(policy, caller, namespace, rules, `${ref.kind} ${JSON.stringify(ref.name)} grants`, where);
}

function byCoverage(
  policy: CompiledPolicy, caller: Caller, namespace: string | undefined, requested: readonly PolicyRule[], what: string, where: string,
): RbacWriteDecision {
  const held = rolesInScope(policy, caller, namespace).flatMap((g) => g.policyRules);
  const total = requested.reduce((sum, rule) => sum + permissionCount(rule), 0);
  if (total > rbacEscalationChecksMax) {
    return { allowed: false, reason: `RBAC: ${what} ${total} single permissions, over rbacEscalationChecksMax (${rbacEscalationChecksMax}); writing it needs escalate or bind` };
  }
  const missing: PolicyRule[] = [];
  for (const rule of requested) {
    for (const permission of singlePermissions(rule)) {
      if (!held.some((owner) => covers(owner, permission))) missing.push(permission);
      if (missing.length >= missingShownMax) break;
    }
    if (missing.length >= missingShownMax) break;
  }
  if (missing.length === 0) return { allowed: true, grantedBy: 'coverage', reason: `RBAC: the caller holds every permission ${what} ${where}` };
  return {
    allowed: false,
    missing,
    reason: `RBAC: user ${JSON.stringify(caller.user)} may not grant permissions it does not hold ${where}: ${what} ${missing.map(describe).join('; ')}`,
  };
}

function permissionCount(rule: PolicyRule): number {
  if (rule.nonResourceURLs !== undefined) return rule.verbs.length * rule.nonResourceURLs.length;
  return rule.verbs.length * (rule.apiGroups?.length ?? 0) * (rule.resources?.length ?? 0) * Math.max(1, rule.resourceNames?.length ?? 0);
}

/** A rule broken into rules of one verb and one group, resource and name (or one URL). */
function* singlePermissions(rule: PolicyRule): Generator<PolicyRule> {
  for (const verb of rule.verbs) {
    if (rule.nonResourceURLs !== undefined) {
      for (const url of rule.nonResourceURLs) yield { verbs: [verb], nonResourceURLs: [url] };
      continue;
    }
    for (const apiGroup of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const names = rule.resourceNames ?? [];
        if (names.length === 0) yield { verbs: [verb], apiGroups: [apiGroup], resources: [resource] };
        for (const name of names) yield { verbs: [verb], apiGroups: [apiGroup], resources: [resource], resourceNames: [name] };
      }
    }
  }
}

/** Whether `owner` covers a single permission (Kubernetes' ruleCovers on a broken-down rule). */
function covers(owner: PolicyRule, permission: PolicyRule): boolean {
  const verb = permission.verbs[0] ?? '';
  if (!owner.verbs.includes(wildcard) && !owner.verbs.includes(verb)) return false;
  const url = permission.nonResourceURLs?.[0];
  if (url !== undefined) {
    return (owner.nonResourceURLs ?? []).some((u) => u === url || (u.endsWith(wildcard) && url.startsWith(u.slice(0, -1))));
  }
  if (owner.nonResourceURLs !== undefined) return false;
  const group = permission.apiGroups?.[0] ?? '';
  const resource = permission.resources?.[0] ?? '';
  const name = permission.resourceNames?.[0];
  const groups = owner.apiGroups ?? [];
  const resources = owner.resources ?? [];
  if (!groups.includes(wildcard) && !groups.includes(group)) return false;
  const slash = resource.indexOf('/');
  const resourceOk = resources.includes(wildcard) || resources.includes(resource)
    || (slash !== -1 && resources.includes(`${wildcard}${resource.slice(slash)}`));
  if (!resourceOk) return false;
  const ownerNames = owner.resourceNames ?? [];
  return ownerNames.length === 0 || (name !== undefined && ownerNames.includes(name));
}

function describe(permission: PolicyRule): string {
  const verb = permission.verbs[0] ?? '';
  const url = permission.nonResourceURLs?.[0];
  if (url !== undefined) return `${verb} path ${JSON.stringify(url)}`;
  const name = permission.resourceNames?.[0];
  return `${verb} ${permission.resources?.[0] ?? ''}${name === undefined ? '' : ` ${JSON.stringify(name)}`} in API group ${JSON.stringify(permission.apiGroups?.[0] ?? '')}`;
}
