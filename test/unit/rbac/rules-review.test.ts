import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorize, compilePolicy, rulesOf } from '../../../src/rbac/index.ts';
import { clusterRole, clusterRoleBinding, role, roleBinding } from './objects.ts';

const alice = { user: 'alice', groups: ['devs', 'system:authenticated'] };

const policy = compilePolicy([
  clusterRole('discovery', [{ nonResourceURLs: ['/version'], verbs: ['get'] }]),
  clusterRoleBinding('everyone-discovers', 'discovery', ['Group:system:authenticated']),
  role('team-a', 'cm-reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['app'] }]),
  roleBinding('team-a', 'devs-read', { kind: 'Role', name: 'cm-reader' }, ['Group:devs']),
  clusterRole('other', [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }]),
  clusterRoleBinding('bob-all', 'other', ['User:bob']),
]);

test('rulesOf lists the rules of the bindings in scope that name the caller, split by kind', () => {
  assert.deepEqual(rulesOf(policy, alice, 'team-a'), {
    resourceRules: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app'] }],
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/version'] }],
  });
});

test('rulesOf: a RoleBinding counts only in its namespace, and no namespace means ClusterRoleBindings alone', () => {
  const expected = { resourceRules: [], nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/version'] }] };
  assert.deepEqual(rulesOf(policy, alice, 'team-b'), expected);
  assert.deepEqual(rulesOf(policy, alice, ''), expected);
});

test('rulesOf agrees with authorize: every listed resource rule allows its own request', () => {
  for (const rule of rulesOf(policy, alice, 'team-a').resourceRules) {
    const request = { ...alice, verb: rule.verbs[0]!, apiGroup: rule.apiGroups[0]!, resource: rule.resources[0]!, namespace: 'team-a', name: rule.resourceNames?.[0] ?? '' };
    assert.equal(authorize(policy, request).allowed, true, JSON.stringify(rule));
  }
});
