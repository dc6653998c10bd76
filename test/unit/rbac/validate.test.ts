import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rbacRulesMax } from '../../../src/config/index.ts';
import { type FieldCause, type RbacObject, isRbacError, parseRbacObject } from '../../../src/rbac/index.ts';

const apiVersion = 'rbac.authorization.k8s.io/v1';
const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'viewer' };
const user = { kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' };

function clusterRole(rules: unknown[]): Record<string, unknown> {
  return { apiVersion, kind: 'ClusterRole', metadata: { name: 'r' }, rules };
}

/** The causes parseRbacObject reports for `value` (fails the test if it is accepted). */
function causesOf(value: unknown): FieldCause[] {
  try {
    parseRbacObject(value);
  } catch (error) {
    assert.ok(isRbacError(error, 'INVALID_OBJECT'), `expected INVALID_OBJECT, got ${String(error)}`);
    return [...error.causes];
  }
  assert.fail(`accepted ${JSON.stringify(value)}`);
}

function assertCause(value: unknown, field: string, message: RegExp): void {
  const causes = causesOf(value);
  assert.ok(causes.some((c) => c.field === field && message.test(c.message)), `no cause ${field} ~ ${message} in ${JSON.stringify(causes)}`);
}

test('valid objects of all four kinds are accepted', () => {
  const objects: unknown[] = [
    { apiVersion, kind: 'Role', metadata: { name: 'r', namespace: 'team-a' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
    clusterRole([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['/healthz', '/api/*'], verbs: ['get'] }]),
    { apiVersion, kind: 'RoleBinding', metadata: { name: 'b', namespace: 'team-a' }, subjects: [user], roleRef: { ...roleRef, kind: 'Role', name: 'r' } },
    { apiVersion, kind: 'ClusterRoleBinding', metadata: { name: 'system:b' }, subjects: [{ kind: 'Group', name: 'system:masters' }], roleRef },
  ];
  for (const object of objects) assert.doesNotThrow(() => parseRbacObject(object), JSON.stringify(object));
});

test('a RoleBinding may refer to a ClusterRole', () => {
  const binding = parseRbacObject({ apiVersion, kind: 'RoleBinding', metadata: { name: 'b', namespace: 'team-a' }, subjects: [user], roleRef });
  assert.equal(binding.kind === 'RoleBinding' && binding.roleRef.kind, 'ClusterRole');
});

test('a ClusterRoleBinding may refer only to a ClusterRole', () => {
  assertCause(
    { apiVersion, kind: 'ClusterRoleBinding', metadata: { name: 'b' }, subjects: [user], roleRef: { ...roleRef, kind: 'Role' } },
    'roleRef.kind', /ClusterRoleBinding may refer only to a ClusterRole/,
  );
});

test('roleRef: kind must be Role or ClusterRole, name and the object are required, apiGroup is RBAC', () => {
  const binding = (ref: unknown): unknown => ({ apiVersion, kind: 'RoleBinding', metadata: { name: 'b', namespace: 'n' }, subjects: [user], roleRef: ref });
  assertCause(binding({ ...roleRef, kind: 'Deployment' }), 'roleRef.kind', /must be Role or ClusterRole/);
  assertCause(binding({ apiGroup: roleRef.apiGroup, kind: 'Role' }), 'roleRef.name', /required/);
  assertCause(binding(undefined), 'roleRef', /required/);
  assertCause(binding({ ...roleRef, apiGroup: 'apps' }), 'roleRef.apiGroup', /rbac\.authorization\.k8s\.io/);
});

test('rules: verbs are required', () => {
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'] }]), 'rules[0].verbs', /^required$/);
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'], verbs: [] }]), 'rules[0].verbs', /^required$/);
});

test('rules: a resource rule needs apiGroups and resources', () => {
  assertCause(clusterRole([{ resources: ['secrets'], verbs: ['get'] }]), 'rules[0].apiGroups', /required/);
  assertCause(clusterRole([{ apiGroups: [''], verbs: ['get'] }]), 'rules[0].resources', /required/);
});

test('rules: non-resource URLs only in ClusterRoles, never mixed with resources', () => {
  assertCause(
    { apiVersion, kind: 'Role', metadata: { name: 'r', namespace: 'n' }, rules: [{ nonResourceURLs: ['/healthz'], verbs: ['get'] }] },
    'rules[0].nonResourceURLs', /ClusterRole/,
  );
  assertCause(clusterRole([{ nonResourceURLs: ['/healthz'], apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]), 'rules[0].nonResourceURLs', /both/);
  assertCause(clusterRole([{ nonResourceURLs: ['healthz'], verbs: ['get'] }]), 'rules[0].nonResourceURLs[0]', /start with '\/'/);
  assertCause(clusterRole([{ nonResourceURLs: ['/a*/b'], verbs: ['get'] }]), 'rules[0].nonResourceURLs[0]', /only end/);
});

test('rules: resources are names, subresources, * or */subresource; resourceNames have no wildcard', () => {
  assert.doesNotThrow(() => parseRbacObject(clusterRole([{ apiGroups: ['coffer.dev'], resources: ['secrets/versions', '*/rotate', '*'], verbs: ['get'] }])));
  for (const bad of ['secrets/*', 'Secrets', 'a/b/c', 'secrets/', '*/*']) {
    assertCause(clusterRole([{ apiGroups: [''], resources: [bad], verbs: ['get'] }]), 'rules[0].resources[0]', /is not a resource/);
  }
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['*'], verbs: ['get'] }]), 'rules[0].resourceNames[0]', /not a wildcard/);
  assertCause(clusterRole([{ apiGroups: ['Bad_Group'], resources: ['secrets'], verbs: ['get'] }]), 'rules[0].apiGroups[0]', /not an API group/);
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'], verbs: ['GET'] }]), 'rules[0].verbs[0]', /not a verb/);
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'], verbs: [7] }]), 'rules[0].verbs[0]', /must be a string/);
  assertCause(clusterRole([{ apiGroups: [''], resources: 'secrets', verbs: ['get'] }]), 'rules[0].resources', /list of strings/);
});

test('unknown fields are refused, so a misspelt restriction cannot widen a rule', () => {
  assertCause(clusterRole([{ apiGroups: [''], resources: ['secrets'], resourceName: ['db'], verbs: ['get'] }]), 'rules[0].resourceName', /unknown field/);
  assertCause({ ...clusterRole([]), rule: [] }, 'rule', /unknown field/);
  assertCause({ apiVersion, kind: 'ClusterRoleBinding', metadata: { name: 'b' }, subjects: [{ ...user, nmae: 'x' }], roleRef }, 'subjects[0].nmae', /unknown field/);
  assertCause({ ...clusterRole([]), aggregationRule: {} }, 'aggregationRule', /not supported/);
});

test('subjects: User or Group with a name; no service accounts; RBAC apiGroup; no namespace', () => {
  const binding = (subject: unknown): unknown => ({ apiVersion, kind: 'ClusterRoleBinding', metadata: { name: 'b' }, subjects: [subject], roleRef });
  assertCause(binding({ kind: 'ServiceAccount', name: 'sa', namespace: 'n' }), 'subjects[0].kind', /ServiceAccount is not supported/);
  assertCause(binding({ kind: 'Robot', name: 'x' }), 'subjects[0].kind', /User or Group/);
  assertCause(binding({ kind: 'User' }), 'subjects[0].name', /^required$/);
  assertCause(binding({ kind: 'Group', name: 'g', apiGroup: 'v1' }), 'subjects[0].apiGroup', /rbac\.authorization\.k8s\.io/);
  assertCause(binding({ kind: 'User', name: 'u', namespace: 'n' }), 'subjects[0].namespace', /must be empty/);
  assertCause({ apiVersion, kind: 'ClusterRoleBinding', metadata: { name: 'b' }, subjects: 'alice', roleRef }, 'subjects', /list/);
});

test('metadata: names are path segments; namespaces are required exactly for Role and RoleBinding', () => {
  assertCause({ apiVersion, kind: 'Role', metadata: { name: 'r' }, rules: [] }, 'metadata.namespace', /^required$/);
  assertCause({ apiVersion, kind: 'Role', metadata: { name: 'r', namespace: 'Team_A' }, rules: [] }, 'metadata.namespace', /DNS-1123 label/);
  assertCause({ apiVersion, kind: 'ClusterRole', metadata: { name: 'r', namespace: 'n' }, rules: [] }, 'metadata.namespace', /cluster-scoped/);
  assertCause({ apiVersion, kind: 'ClusterRole', metadata: { name: 'a/b' }, rules: [] }, 'metadata.name', /'\/'/);
  assertCause({ apiVersion, kind: 'ClusterRole', metadata: { name: '..' }, rules: [] }, 'metadata.name', /may not be/);
  assertCause({ apiVersion, kind: 'ClusterRole', metadata: {}, rules: [] }, 'metadata.name', /^required$/);
  assertCause({ apiVersion, kind: 'ClusterRole', rules: [] }, 'metadata', /^required$/);
  assertCause({ apiVersion, kind: 'ClusterRole', metadata: { name: 'r', labels: { a: 1 } }, rules: [] }, 'metadata.labels', /map of strings/);
});

test('apiVersion and kind must be RBAC v1 kinds; the input must be an object', () => {
  assertCause({ ...clusterRole([]), apiVersion: 'rbac.authorization.k8s.io/v1beta1' }, 'apiVersion', /rbac\.authorization\.k8s\.io\/v1/);
  assertCause({ ...clusterRole([]), kind: 'Secret' }, 'kind', /one of Role, ClusterRole, RoleBinding, ClusterRoleBinding/);
  assertCause('ClusterRole', '<object>', /must be an object/);
  assertCause([clusterRole([])], '<object>', /must be an object/);
});

test('limits: more rules than rbacRulesMax are refused', () => {
  const rules = Array.from({ length: rbacRulesMax + 1 }, () => ({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }));
  assertCause(clusterRole(rules), 'rules', /rbacRulesMax/);
});

test('every bad field is reported at once, and the message names the object and the fields', () => {
  const value = { apiVersion, kind: 'ClusterRole', metadata: { name: 'broken' }, rules: [{ apiGroups: [''], resources: ['secrets'] }, { verbs: ['get'] }] };
  assert.throws(() => parseRbacObject(value), (error: unknown) => {
    assert.ok(isRbacError(error, 'INVALID_OBJECT'));
    assert.deepEqual(error.causes.map((c) => c.field), ['rules[0].verbs', 'rules[1].apiGroups', 'rules[1].resources']);
    assert.match(error.message, /^ClusterRole "broken" is invalid: rules\[0\]\.verbs: required; rules\[1\]\.apiGroups: /);
    return true;
  });
});

test('the result is normalised and not aliased to the input', () => {
  const input = {
    apiVersion, kind: 'ClusterRoleBinding',
    metadata: { name: 'b', uid: 'u-1', resourceVersion: '7', labels: { team: 'a' } },
    subjects: [{ kind: 'User', name: 'alice' }],
    roleRef: { kind: 'ClusterRole', name: 'viewer' },
  };
  const parsed: RbacObject = parseRbacObject(input);
  assert.ok(parsed.kind === 'ClusterRoleBinding');
  // apiGroup is defaulted as Kubernetes does; server-set metadata passes through.
  assert.deepEqual(parsed.subjects, [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }]);
  assert.deepEqual(parsed.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'viewer' });
  assert.equal(parsed.metadata.uid, 'u-1');
  input.subjects[0]!.name = 'mallory';
  input.metadata.labels.team = 'b';
  assert.equal(parsed.subjects[0]?.name, 'alice');
  assert.deepEqual(parsed.metadata.labels, { team: 'a' });
});
