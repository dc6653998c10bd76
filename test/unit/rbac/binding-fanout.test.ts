// Many bindings of one role must cost one role, not bindings × rules (the cost-amplification probe of
// 2026-12-06: a namespace admin bound its own ~1 MiB Role to itself 400 times, and every rules review
// listed the role's rules 400 times — 400 MiB — and every denied request walked 400 × 256 rules). The
// index lists each distinct role once per subject and scope, with its first binding in policy order;
// rules reviews list each role once and stop at rbacRulesReview*Max; decisions name the same binding as
// walking every binding in order would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rbacRulesMax, rbacRulesReviewBytesMax, rbacRulesReviewRulesMax } from '../../../src/config/index.ts';
import { rolesInScope } from '../../../src/rbac/compile.ts';
import { type PolicyRule, authorize, authorizeRbacWrite, compilePolicy, rulesOf } from '../../../src/rbac/index.ts';
import { clusterRole, clusterRoleBinding, role, roleBinding } from './objects.ts';

const nsadmin = { user: 'nsadmin', groups: ['system:authenticated'] };
const BINDINGS = 400;

/** The probe's Role: 256 rules of 4 resourceNames of 1,000 characters, about 1 MiB. */
function bigRules(tag: string): PolicyRule[] {
  return Array.from({ length: rbacRulesMax }, (_, i) => ({
    apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: Array.from({ length: 4 }, (_, j) => `${tag}${i}-${j}-`.padEnd(1000, 'x')),
  }));
}

const adminRules: PolicyRule[] = [
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['*'] },
  { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['*'] },
];
const name = (i: number): string => `b${String(i).padStart(4, '0')}`;

function fanout(bindings: number) {
  return compilePolicy([
    clusterRole('discovery', [{ nonResourceURLs: ['/version'], verbs: ['get'] }]),
    clusterRoleBinding('everyone-discovers', 'discovery', ['Group:system:authenticated']),
    role('default', 'ns-admin', adminRules),
    roleBinding('default', 'ns-admin', { kind: 'Role', name: 'ns-admin' }, ['User:nsadmin']),
    role('default', 'big', bigRules('')),
    // In reverse, to show the order of arrival does not matter.
    ...Array.from({ length: bindings }, (_, i) => roleBinding('default', name(bindings - 1 - i), { kind: 'Role', name: 'big' }, ['User:nsadmin'])),
  ]);
}

test('the index holds each role once per subject and scope, however many bindings grant it', () => {
  const policy = fanout(BINDINGS);
  assert.equal(policy.counts.roleBindings, BINDINGS + 1);
  const roles = rolesInScope(policy, nsadmin, 'default');
  assert.deepEqual(roles.map((g) => [g.roleKey.replaceAll('\0', '/'), g.binding.name]), [
    ['ClusterRole/discovery', 'everyone-discovers'], ['Role/default/big', 'b0000'], ['Role/default/ns-admin', 'ns-admin'],
  ]);
  assert.equal(rolesInScope(fanout(1), nsadmin, 'default').length, roles.length);
});

test('a rules review lists a role bound 400 times once: the same answer as for one binding', () => {
  const many = rulesOf(fanout(BINDINGS), nsadmin, 'default');
  assert.equal(many.evaluationError, undefined);
  assert.equal(many.resourceRules.length, rbacRulesMax + adminRules.length);
  assert.equal(many.nonResourceRules.length, 1);
  assert.deepEqual(many, rulesOf(fanout(1), nsadmin, 'default'));
  assert.ok(JSON.stringify(many).length < 1.1 * 1024 * 1024, `${JSON.stringify(many).length} bytes`);
});

test('decisions with 400 bindings of one role: the first binding in policy order, allowed or denied as with one', () => {
  const policy = fanout(BINDINGS);
  const one = fanout(1);
  const requests = [
    { ...nsadmin, verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'default', name: `${'7-2-'.padEnd(1000, 'x')}` },
    { ...nsadmin, verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'default', name: 'nope' },
    { ...nsadmin, verb: 'list', apiGroup: '', resource: 'pods', namespace: 'default' },
    { ...nsadmin, verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'default', name: 'x' },
    { ...nsadmin, verb: 'get', nonResourcePath: '/version' },
  ];
  for (const request of requests) assert.deepEqual(authorize(policy, request), authorize(one, request));
  // ns-admin (binding "ns-admin") sorts after b0000…b0399, so a configmap get is decided by b0000 — the
  // first binding of the first matching role — whichever of the two roles' bindings came first.
  assert.equal(authorize(policy, requests[0]!).reason, 'RBAC: allowed by RoleBinding "default/b0000" of Role "big"');
  assert.equal(authorize(policy, requests[1]!).reason, 'RBAC: allowed by RoleBinding "default/ns-admin" of Role "ns-admin"');
  assert.equal(authorize(policy, requests[2]!).allowed, false);
});

test('the first binding is found across the caller\'s user and groups and across scopes', () => {
  const policy = compilePolicy([
    clusterRole('reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]),
    roleBinding('default', 'z-user', { kind: 'ClusterRole', name: 'reader' }, ['User:nsadmin']),
    roleBinding('default', 'a-group', { kind: 'ClusterRole', name: 'reader' }, ['Group:system:authenticated']),
    roleBinding('default', 'm-both', { kind: 'ClusterRole', name: 'reader' }, ['User:nsadmin', 'Group:system:authenticated']),
  ]);
  const get = { ...nsadmin, verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'default', name: 'x' };
  assert.equal(authorize(policy, get).reason, 'RBAC: allowed by RoleBinding "default/a-group" of ClusterRole "reader"');
  assert.equal(authorize(policy, { ...get, groups: [] }).reason, 'RBAC: allowed by RoleBinding "default/m-both" of ClusterRole "reader"');
  assert.equal(rolesInScope(policy, nsadmin, 'default').length, 1);
  // The same ClusterRole bound cluster-wide as well: the ClusterRoleBinding comes first in order.
  const both = compilePolicy([
    clusterRole('reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]),
    roleBinding('default', 'a-local', { kind: 'ClusterRole', name: 'reader' }, ['User:nsadmin']),
    clusterRoleBinding('z-global', 'reader', ['Group:system:authenticated']),
  ]);
  assert.equal(authorize(both, get).reason, 'RBAC: allowed by ClusterRoleBinding "z-global" of ClusterRole "reader"');
  assert.equal(rolesInScope(both, nsadmin, 'default').length, 1);
  assert.equal(rulesOf(both, nsadmin, 'default').resourceRules.length, 1);
});

test('the escalation check holds each role\'s rules once (writing a copy of the big role by coverage still works)', () => {
  const policy = fanout(BINDINGS);
  const copy = role('default', 'copy', bigRules(''));
  assert.equal(authorizeRbacWrite(policy, nsadmin, copy).allowed, true);
});

test('a rules review stops at rbacRulesReviewRulesMax and says so', () => {
  const roles = Math.ceil(rbacRulesReviewRulesMax / rbacRulesMax) + 2;
  const small = (i: number): PolicyRule[] => Array.from({ length: rbacRulesMax }, (_, j) => ({ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: [`r${i}-${j}`] }));
  const policy = compilePolicy(Array.from({ length: roles }, (_, i) => [
    role('default', `r${i}`, small(i)), roleBinding('default', `r${i}`, { kind: 'Role', name: `r${i}` }, ['User:nsadmin']),
  ]).flat());
  const answer = rulesOf(policy, nsadmin, 'default');
  assert.equal(answer.resourceRules.length, rbacRulesReviewRulesMax);
  assert.match(answer.evaluationError ?? '', /rbacRulesReviewRulesMax \(8192 rules\)/);
});

test('a rules review stops at rbacRulesReviewBytesMax and says so', () => {
  const roles = Math.ceil(rbacRulesReviewBytesMax / (1024 * 1024)) + 1;
  const policy = compilePolicy(Array.from({ length: roles }, (_, i) => [
    role('default', `big${i}`, bigRules(`${i}-`)), roleBinding('default', `big${i}`, { kind: 'Role', name: `big${i}` }, ['User:nsadmin']),
  ]).flat());
  const answer = rulesOf(policy, nsadmin, 'default');
  assert.match(answer.evaluationError ?? '', /rbacRulesReviewBytesMax \(4194304 bytes\)/);
  const size = Buffer.byteLength(JSON.stringify(answer.resourceRules));
  assert.ok(size <= rbacRulesReviewBytesMax && size > rbacRulesReviewBytesMax - 8 * 1024, `${size} bytes`);
});
