// Builders for RBAC objects as raw input (what an API body or a YAML document holds); tests pass them
// through parseRbacObject, so the validator sees exactly what a user would send.
import { type PolicyRule, type RbacObject, parseRbacObject } from '../../../src/rbac/index.ts';

const apiVersion = 'rbac.authorization.k8s.io/v1';
const apiGroup = 'rbac.authorization.k8s.io';

export type SubjectSpec = `User:${string}` | `Group:${string}`;

function subjectsOf(specs: readonly SubjectSpec[]): { kind: string; name: string; apiGroup: string }[] {
  return specs.map((spec) => {
    const at = spec.indexOf(':');
    return { kind: spec.slice(0, at), name: spec.slice(at + 1), apiGroup };
  });
}

export function role(namespace: string, name: string, rules: PolicyRule[]): RbacObject {
  return parseRbacObject({ apiVersion, kind: 'Role', metadata: { name, namespace }, rules });
}

export function clusterRole(name: string, rules: PolicyRule[]): RbacObject {
  return parseRbacObject({ apiVersion, kind: 'ClusterRole', metadata: { name }, rules });
}

export function roleBinding(
  namespace: string, name: string, roleRef: { kind: 'Role' | 'ClusterRole'; name: string }, subjects: readonly SubjectSpec[],
): RbacObject {
  return parseRbacObject({
    apiVersion, kind: 'RoleBinding', metadata: { name, namespace }, subjects: subjectsOf(subjects), roleRef: { apiGroup, ...roleRef },
  });
}

export function clusterRoleBinding(name: string, roleName: string, subjects: readonly SubjectSpec[]): RbacObject {
  return parseRbacObject({
    apiVersion, kind: 'ClusterRoleBinding', metadata: { name }, subjects: subjectsOf(subjects), roleRef: { apiGroup, kind: 'ClusterRole', name: roleName },
  });
}
