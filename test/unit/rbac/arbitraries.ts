// Generators of small random RBAC policies and requests, shared by the property tests. The vocabulary
// is small so that matches, near misses and wildcards all occur often.
import fc from 'fast-check';
import { type AuthorizationRequest, type PolicyRule, type RbacObject, parseRbacObject } from '../../../src/rbac/index.ts';

export const users = ['u1', 'u2', 'u3'];
export const groups = ['g1', 'g2', 'system:authenticated'];
const namespaces = ['n1', 'n2'];
const apiGroups = ['', 'coffer.dev', 'rbac.authorization.k8s.io'];
const resources = ['secrets', 'configmaps', 'namespaces', 'clusterroles', 'roles'];
const subresources = ['versions', 'rotate'];
const verbs = ['get', 'list', 'create', 'delete', 'rotate'];
const objectNames = ['a', 'b'];
const paths = ['/healthz', '/api', '/api/v1', '/apis/x', '/v3/kv', '/metrics'];
const roleNames = ['r1', 'r2', 'r3'];

// ── generators ──────────────────────────────────────────────────────────────────────────────────

const some = <T>(values: readonly T[]): fc.Arbitrary<T[]> => fc.subarray([...values], { minLength: 1 });

export const resourceRule: fc.Arbitrary<PolicyRule> = fc.record({
  verbs: some([...verbs, '*']),
  apiGroups: some([...apiGroups, '*']),
  resources: some([...resources, 'secrets/versions', 'secrets/rotate', '*/versions', '*']),
  resourceNames: fc.option(some(objectNames), { nil: undefined }),
}).map(({ resourceNames, ...rest }) => (resourceNames === undefined ? rest : { ...rest, resourceNames }));

export const urlRule: fc.Arbitrary<PolicyRule> = fc.record({
  verbs: some(['get', 'post', '*']),
  nonResourceURLs: some(['/healthz', '/api', '/api/*', '/v3/*', '*']),
});

/** One verb on one group/resource (maybe one name), or one verb on one URL: the rules a role author most often holds. */
export const singleRule: fc.Arbitrary<PolicyRule> = fc.oneof(
  fc.record({
    verbs: fc.constantFrom(...verbs, '*').map((v) => [v]),
    apiGroups: fc.constantFrom(...apiGroups, '*').map((g) => [g]),
    resources: fc.constantFrom(...resources, 'secrets/versions', '*/versions', '*').map((r) => [r]),
    resourceNames: fc.option(fc.constantFrom(...objectNames).map((n) => [n]), { nil: undefined }),
  }).map(({ resourceNames, ...rest }) => (resourceNames === undefined ? rest : { ...rest, resourceNames })),
  fc.record({ verbs: fc.constantFrom('get', 'post').map((v) => [v]), nonResourceURLs: fc.constantFrom('/healthz', '/api/v1', '/api/*').map((u) => [u]) }),
);

const subjects = fc.subarray([...users.map((name) => ({ kind: 'User', name })), ...groups.map((name) => ({ kind: 'Group', name }))]);
export const rbac = 'rbac.authorization.k8s.io';

export const policyObjects: fc.Arbitrary<unknown[]> = fc.record({
  roles: fc.uniqueArray(fc.record({ ns: fc.constantFrom(...namespaces), name: fc.constantFrom(...roleNames), rules: fc.array(resourceRule, { maxLength: 3 }) }),
    { maxLength: 4, selector: (r) => `${r.ns}/${r.name}` }),
  clusterRoles: fc.uniqueArray(fc.record({ name: fc.constantFrom(...roleNames), rules: fc.array(fc.oneof(resourceRule, urlRule), { maxLength: 3 }) }),
    { maxLength: 3, selector: (r) => r.name }),
  roleBindings: fc.uniqueArray(fc.record({
    ns: fc.constantFrom(...namespaces), name: fc.constantFrom('b1', 'b2', 'b3'), subjects,
    roleKind: fc.constantFrom('Role', 'ClusterRole'), roleName: fc.constantFrom(...roleNames),
  }), { maxLength: 5, selector: (b) => `${b.ns}/${b.name}` }),
  clusterRoleBindings: fc.uniqueArray(fc.record({ name: fc.constantFrom('c1', 'c2', 'c3'), subjects, roleName: fc.constantFrom(...roleNames) }),
    { maxLength: 3, selector: (b) => b.name }),
}).map(({ roles, clusterRoles, roleBindings, clusterRoleBindings }) => [
  ...roles.map((r) => ({ apiVersion: `${rbac}/v1`, kind: 'Role', metadata: { name: r.name, namespace: r.ns }, rules: r.rules })),
  ...clusterRoles.map((r) => ({ apiVersion: `${rbac}/v1`, kind: 'ClusterRole', metadata: { name: r.name }, rules: r.rules })),
  ...roleBindings.map((b) => ({
    apiVersion: `${rbac}/v1`, kind: 'RoleBinding', metadata: { name: b.name, namespace: b.ns }, subjects: b.subjects,
    roleRef: { apiGroup: rbac, kind: b.roleKind, name: b.roleName },
  })),
  ...clusterRoleBindings.map((b) => ({
    apiVersion: `${rbac}/v1`, kind: 'ClusterRoleBinding', metadata: { name: b.name }, subjects: b.subjects,
    roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: b.roleName },
  })),
]);

export const caller = fc.record({ user: fc.constantFrom(...users), groups: fc.subarray(groups) });
// Mostly the (group, resource) pairs Coffer serves, cluster-scoped ones included; sometimes any pair.
const servedPair = fc.constantFrom(
  { apiGroup: '', resource: 'secrets' }, { apiGroup: '', resource: 'configmaps' }, { apiGroup: '', resource: 'namespaces' },
  { apiGroup: rbac, resource: 'clusterroles' }, { apiGroup: rbac, resource: 'roles' }, { apiGroup: 'coffer.dev', resource: 'secrets' },
);
const anyPair = fc.record({ apiGroup: fc.constantFrom(...apiGroups), resource: fc.constantFrom(...resources) });

export const requestArb: fc.Arbitrary<AuthorizationRequest> = fc.oneof(
  fc.record({
    c: caller, verb: fc.constantFrom(...verbs), target: fc.oneof(servedPair, anyPair),
    subresource: fc.constantFrom('', ...subresources), namespace: fc.constantFrom('', ...namespaces), name: fc.constantFrom('', ...objectNames),
  }).map(({ c, target, ...rest }): AuthorizationRequest => ({ ...c, ...target, ...rest })),
  fc.record({ c: caller, verb: fc.constantFrom('get', 'post'), nonResourcePath: fc.constantFrom(...paths) })
    .map(({ c, ...rest }): AuthorizationRequest => ({ ...c, ...rest })),
);

export const parse = (raw: readonly unknown[]): RbacObject[] => raw.map((o) => parseRbacObject(o));
