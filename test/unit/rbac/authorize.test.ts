import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuthorizationRequest, authorize, compilePolicy, isRbacError } from '../../../src/rbac/index.ts';
import { clusterRole, clusterRoleBinding, role, roleBinding } from './objects.ts';

const alice = { user: 'alice', groups: ['system:authenticated'] };
const getSecret = (namespace: string | undefined, name = 'db'): AuthorizationRequest =>
  ({ ...alice, verb: 'get', apiGroup: '', resource: 'secrets', namespace, name });

const secretGetter = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }];

test('default deny: an empty policy allows nothing, and says why', () => {
  const decision = authorize(compilePolicy([]), getSecret('default'));
  assert.equal(decision.allowed, false);
  assert.equal(decision.decidedBy, undefined);
  assert.equal(decision.reason, 'RBAC: no rule allows user "alice" to get secrets "db" in API group "" in namespace "default" (default deny)');
});

test('a RoleBinding to a Role grants only in its own namespace', () => {
  const policy = compilePolicy([role('team-a', 'reader', secretGetter), roleBinding('team-a', 'alice-reads', { kind: 'Role', name: 'reader' }, ['User:alice'])]);
  const allowed = authorize(policy, getSecret('team-a'));
  assert.equal(allowed.allowed, true);
  assert.deepEqual(allowed.decidedBy, { kind: 'Role', name: 'reader', bindingKind: 'RoleBinding', bindingName: 'alice-reads', bindingNamespace: 'team-a' });
  assert.equal(allowed.reason, 'RBAC: allowed by RoleBinding "team-a/alice-reads" of Role "reader"');
  assert.equal(authorize(policy, getSecret('default')).allowed, false);
  // A list across all namespaces carries no namespace: no RoleBinding applies.
  assert.equal(authorize(policy, { ...alice, verb: 'list', apiGroup: '', resource: 'secrets' }).allowed, false);
});

test('a RoleBinding to a ClusterRole grants the ClusterRole only in the binding namespace', () => {
  const policy = compilePolicy([clusterRole('reader', secretGetter), roleBinding('team-a', 'b', { kind: 'ClusterRole', name: 'reader' }, ['User:alice'])]);
  assert.equal(authorize(policy, getSecret('team-a')).allowed, true);
  assert.equal(authorize(policy, getSecret('team-b')).allowed, false);
  assert.equal(authorize(policy, getSecret(undefined)).allowed, false);
});

test('a RoleBinding never grants cluster-scoped resources, even when the request names its namespace', () => {
  const everything = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }];
  const policy = compilePolicy([clusterRole('all', everything), roleBinding('team-a', 'b', { kind: 'ClusterRole', name: 'all' }, ['User:alice'])]);
  const clusterScoped: AuthorizationRequest[] = [
    { ...alice, verb: 'get', apiGroup: '', resource: 'namespaces', name: 'team-a', namespace: 'team-a' },
    { ...alice, verb: 'delete', apiGroup: '', resource: 'namespaces', name: 'team-a' },
    { ...alice, verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace: 'team-a' },
    { ...alice, verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
    { ...alice, verb: 'list', apiGroup: 'coffer.dev', resource: 'auditevents', namespace: 'team-a' },
  ];
  for (const request of clusterScoped) assert.equal(authorize(policy, request).allowed, false, JSON.stringify(request));
  // …while the same binding does grant the namespaced resources of team-a, RBAC objects included.
  assert.equal(authorize(policy, { ...alice, verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'team-a' }).allowed, true);
});

test('a ClusterRoleBinding grants in every namespace, across namespaces and at cluster scope', () => {
  const policy = compilePolicy([
    clusterRole('reader', [...secretGetter, { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }]),
    clusterRoleBinding('b', 'reader', ['User:alice']),
  ]);
  assert.equal(authorize(policy, getSecret('default')).allowed, true);
  assert.equal(authorize(policy, getSecret('team-a')).allowed, true);
  assert.equal(authorize(policy, { ...alice, verb: 'list', apiGroup: '', resource: 'secrets' }).allowed, true);
  assert.equal(authorize(policy, { ...alice, verb: 'get', apiGroup: '', resource: 'namespaces', name: 'team-a' }).allowed, true);
  assert.equal(authorize(policy, { ...alice, verb: 'delete', apiGroup: '', resource: 'secrets', namespace: 'default', name: 'db' }).allowed, false);
});

test('subjects: a Group subject matches through the caller groups; a User subject only by user name', () => {
  const policy = compilePolicy([clusterRole('reader', secretGetter), clusterRoleBinding('devs', 'reader', ['Group:dev'])]);
  assert.equal(authorize(policy, { ...getSecret('default'), user: 'bob', groups: ['dev'] }).allowed, true);
  assert.equal(authorize(policy, { ...getSecret('default'), user: 'dev', groups: [] }).allowed, false);
  const byUser = compilePolicy([clusterRole('reader', secretGetter), clusterRoleBinding('dev', 'reader', ['User:dev'])]);
  assert.equal(authorize(byUser, { ...getSecret('default'), user: 'bob', groups: ['dev'] }).allowed, false);
});

test('resourceNames: only requests naming a listed object match; list, watch and create without a name never do', () => {
  const policy = compilePolicy([
    clusterRole('db-only', [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['db'], verbs: ['get', 'list', 'watch', 'create', 'update'] }]),
    clusterRoleBinding('b', 'db-only', ['User:alice']),
  ]);
  assert.equal(authorize(policy, getSecret('default', 'db')).allowed, true);
  assert.equal(authorize(policy, { ...getSecret('default', 'db'), verb: 'update' }).allowed, true);
  assert.equal(authorize(policy, getSecret('default', 'other')).allowed, false);
  for (const verb of ['list', 'watch', 'create']) {
    assert.equal(authorize(policy, { ...alice, verb, apiGroup: '', resource: 'secrets', namespace: 'default' }).allowed, false, verb);
    assert.equal(authorize(policy, { ...alice, verb, apiGroup: '', resource: 'secrets', namespace: 'default', name: '' }).allowed, false, verb);
  }
});

test('subresources: matched by resource/subresource, */subresource or *, never by the bare resource', () => {
  const versions = { ...alice, verb: 'get', apiGroup: 'coffer.dev', resource: 'secrets', subresource: 'versions', namespace: 'default', name: 'db' };
  const decide = (resources: string[], request: AuthorizationRequest = versions): boolean =>
    authorize(compilePolicy([clusterRole('r', [{ apiGroups: ['coffer.dev'], resources, verbs: ['get'] }]), clusterRoleBinding('b', 'r', ['User:alice'])]), request).allowed;
  assert.equal(decide(['secrets']), false);
  assert.equal(decide(['secrets/rotate']), false);
  assert.equal(decide(['secrets/versions']), true);
  assert.equal(decide(['*/versions']), true);
  assert.equal(decide(['*']), true);
  // The subresource rule does not grant the resource itself.
  assert.equal(decide(['secrets/versions'], { ...versions, subresource: undefined }), false);
  assert.equal(decide(['*/versions'], { ...versions, subresource: undefined }), false);
});

test('the API group must match: core secrets rules do not reach coffer.dev subresources', () => {
  const policy = compilePolicy([
    clusterRole('r', [{ apiGroups: [''], resources: ['secrets', 'secrets/rotate'], verbs: ['*'] }]),
    clusterRoleBinding('b', 'r', ['User:alice']),
  ]);
  assert.equal(authorize(policy, { ...alice, verb: 'create', apiGroup: 'coffer.dev', resource: 'secrets', subresource: 'rotate', namespace: 'n', name: 'db' }).allowed, false);
  assert.equal(authorize(policy, { ...alice, verb: 'create', apiGroup: '', resource: 'secrets', subresource: 'rotate', namespace: 'n', name: 'db' }).allowed, true);
});

test('wildcards: * in verbs matches any verb, * in apiGroups matches the core group', () => {
  const policy = compilePolicy([clusterRole('r', [{ apiGroups: ['*'], resources: ['configmaps'], verbs: ['*'] }]), clusterRoleBinding('b', 'r', ['User:alice'])]);
  for (const verb of ['get', 'deletecollection', 'escalate']) {
    assert.equal(authorize(policy, { ...alice, verb, apiGroup: '', resource: 'configmaps', namespace: 'n' }).allowed, true, verb);
  }
  assert.equal(authorize(policy, { ...alice, verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'n' }).allowed, false);
});

test('non-resource URLs: exact paths and prefixes, only through ClusterRoleBindings, never for resource requests', () => {
  const urls = clusterRole('urls', [{ nonResourceURLs: ['/healthz', '/api/*'], verbs: ['get'] }]);
  const path = (nonResourcePath: string, verb = 'get'): AuthorizationRequest => ({ ...alice, verb, nonResourcePath });
  const policy = compilePolicy([urls, clusterRoleBinding('b', 'urls', ['User:alice'])]);
  assert.equal(authorize(policy, path('/healthz')).allowed, true);
  assert.equal(authorize(policy, path('/healthz/x')).allowed, false);
  assert.equal(authorize(policy, path('/api/v1')).allowed, true);
  assert.equal(authorize(policy, path('/api')).allowed, false);
  assert.equal(authorize(policy, path('/healthz', 'post')).allowed, false);
  assert.match(authorize(policy, path('/metrics')).reason, /to get path "\/metrics" \(default deny\)/);
  // The same ClusterRole through a RoleBinding grants no path: paths have no namespace.
  const viaRoleBinding = compilePolicy([urls, roleBinding('default', 'b', { kind: 'ClusterRole', name: 'urls' }, ['User:alice'])]);
  assert.equal(authorize(viaRoleBinding, path('/healthz')).allowed, false);
  // A resource rule never matches a path, and a URL rule never matches a resource.
  const mixed = compilePolicy([
    clusterRole('all-resources', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]),
    clusterRole('all-paths', [{ nonResourceURLs: ['*'], verbs: ['*'] }]),
    clusterRoleBinding('r', 'all-resources', ['User:alice']), clusterRoleBinding('p', 'all-paths', ['User:bob']),
  ]);
  assert.equal(authorize(mixed, path('/healthz')).allowed, false);
  assert.equal(authorize(mixed, { ...path('/healthz'), user: 'bob' }).allowed, true);
  assert.equal(authorize(mixed, { ...getSecret('default'), user: 'bob' }).allowed, false);
});

test('a binding to a missing role grants nothing and is reported; a RoleBinding finds Roles only in its namespace', () => {
  const policy = compilePolicy([
    role('team-b', 'reader', secretGetter),
    roleBinding('team-a', 'to-other-ns', { kind: 'Role', name: 'reader' }, ['User:alice']),
    clusterRoleBinding('to-nothing', 'no-such-role', ['User:alice']),
  ]);
  assert.equal(authorize(policy, getSecret('team-a')).allowed, false);
  assert.equal(authorize(policy, getSecret('team-b')).allowed, false);
  assert.deepEqual(policy.danglingBindings, [
    { kind: 'ClusterRoleBinding', namespace: undefined, name: 'to-nothing', roleKind: 'ClusterRole', roleName: 'no-such-role' },
    { kind: 'RoleBinding', namespace: 'team-a', name: 'to-other-ns', roleKind: 'Role', roleName: 'reader' },
  ]);
});

test('the deciding binding is deterministic: ClusterRoleBindings by name, then RoleBindings', () => {
  const objects = [
    clusterRole('reader', secretGetter),
    roleBinding('team-a', 'a-first', { kind: 'ClusterRole', name: 'reader' }, ['User:alice']),
    clusterRoleBinding('z-user', 'reader', ['User:alice']),
    clusterRoleBinding('m-group', 'reader', ['Group:system:authenticated']),
  ];
  for (const order of [objects, [...objects].reverse()]) {
    const decision = authorize(compilePolicy(order), getSecret('team-a'));
    assert.deepEqual(decision.decidedBy, { kind: 'ClusterRole', name: 'reader', bindingKind: 'ClusterRoleBinding', bindingName: 'm-group' });
  }
});

test('compiling the same object twice is refused', () => {
  const object = clusterRole('reader', secretGetter);
  assert.throws(() => compilePolicy([object, clusterRole('reader', [])]), (error: unknown) => isRbacError(error, 'DUPLICATE_OBJECT') && /ClusterRole "reader"/.test(error.message));
  // Same name, different kind or namespace: distinct objects.
  assert.doesNotThrow(() => compilePolicy([object, role('a', 'reader', []), role('b', 'reader', []), clusterRoleBinding('reader', 'reader', [])]));
});
