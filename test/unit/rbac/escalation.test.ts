import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type PolicyRule, type RbacObject, authorize, authorizeRbacWrite, compilePolicy, loadPolicies } from '../../../src/rbac/index.ts';
import { caller, parse, policyObjects, requestArb, resourceRule, singleRule, urlRule } from './arbitraries.ts';
import { clusterRole, clusterRoleBinding, role, roleBinding } from './objects.ts';

const defaults: RbacObject[] = (await loadPolicies(new URL('../../../policies/', import.meta.url).pathname)).rbac;
const carol = { user: 'carol', groups: ['system:authenticated'] };
const secretRule = (verbs: string[]): PolicyRule => ({ apiGroups: [''], resources: ['secrets'], verbs });

test('system:masters may write any RBAC object (cluster-admin holds escalate and bind)', () => {
  const policy = compilePolicy(defaults);
  const admin = { user: 'admin', groups: ['system:masters'] };
  assert.deepEqual(authorizeRbacWrite(policy, admin, clusterRole('anything', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }])).grantedBy, 'escalate');
  assert.deepEqual(authorizeRbacWrite(policy, admin, clusterRoleBinding('x', 'cluster-admin', ['User:carol'])).grantedBy, 'bind');
});

test('a role may grant only what its author holds: secret-reader can hand out get, not delete', () => {
  const policy = compilePolicy([...defaults, clusterRoleBinding('carol-reads', 'secret-reader', ['User:carol'])]);
  const ok = authorizeRbacWrite(policy, carol, clusterRole('narrow', [secretRule(['get', 'list'])]));
  assert.deepEqual({ allowed: ok.allowed, grantedBy: ok.grantedBy }, { allowed: true, grantedBy: 'coverage' });
  const refused = authorizeRbacWrite(policy, carol, clusterRole('wider', [secretRule(['get', 'delete']), { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]));
  assert.equal(refused.allowed, false);
  assert.deepEqual(refused.missing, [secretRule(['delete']), { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]);
  assert.match(refused.reason, /user "carol" may not grant permissions it does not hold cluster-wide: ClusterRole "wider" grants delete secrets in API group ""; get configmaps/);
  // A wildcard is covered only by the same wildcard.
  assert.equal(authorizeRbacWrite(policy, carol, clusterRole('star', [secretRule(['*'])])).allowed, false);
});

test('permissions held in one namespace cover Roles and RoleBindings there, not elsewhere and not cluster-wide', () => {
  const policy = compilePolicy([...defaults, roleBinding('team-a', 'carol-edits', { kind: 'ClusterRole', name: 'configmap-editor' }, ['User:carol'])]);
  const rules = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'update'] }];
  assert.equal(authorizeRbacWrite(policy, carol, role('team-a', 'cm', rules)).allowed, true);
  assert.equal(authorizeRbacWrite(policy, carol, role('team-b', 'cm', rules)).allowed, false);
  assert.equal(authorizeRbacWrite(policy, carol, clusterRole('cm', rules)).allowed, false);
  // Binding a ClusterRole she fully holds in team-a, inside team-a only.
  assert.equal(authorizeRbacWrite(policy, carol, roleBinding('team-a', 'b', { kind: 'ClusterRole', name: 'configmap-editor' }, ['User:dave'])).allowed, true);
  assert.equal(authorizeRbacWrite(policy, carol, roleBinding('team-b', 'b', { kind: 'ClusterRole', name: 'configmap-editor' }, ['User:dave'])).allowed, false);
  assert.equal(authorizeRbacWrite(policy, carol, clusterRoleBinding('b', 'configmap-editor', ['User:dave'])).allowed, false);
  const escalating = authorizeRbacWrite(policy, carol, roleBinding('team-a', 'b', { kind: 'ClusterRole', name: 'cluster-admin' }, ['User:carol']));
  assert.equal(escalating.allowed, false);
  assert.match(escalating.reason, /in namespace "team-a": ClusterRole "cluster-admin" grants \* \* in API group "\*"/);
});

test('the bind verb on a named role allows binding it without holding it; escalate allows writing any role', () => {
  const policy = compilePolicy([
    ...defaults,
    clusterRole('binder', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['secret-reader'], verbs: ['bind'] }]),
    clusterRoleBinding('carol-binds', 'binder', ['User:carol']),
    role('team-a', 'escalator', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }]),
    roleBinding('team-a', 'carol-escalates', { kind: 'Role', name: 'escalator' }, ['User:carol']),
  ]);
  assert.equal(authorizeRbacWrite(policy, carol, clusterRoleBinding('b', 'secret-reader', ['User:dave'])).grantedBy, 'bind');
  assert.equal(authorizeRbacWrite(policy, carol, clusterRoleBinding('b', 'secret-rotator', ['User:dave'])).allowed, false);
  assert.equal(authorizeRbacWrite(policy, carol, role('team-a', 'big', [secretRule(['*'])])).grantedBy, 'escalate');
  assert.equal(authorizeRbacWrite(policy, carol, role('team-b', 'big', [secretRule(['*'])])).allowed, false);
});

test('coverage follows Kubernetes: subresources, resource names, URL prefixes', () => {
  const holding = (rules: PolicyRule[]) => compilePolicy([clusterRole('held', rules), clusterRoleBinding('h', 'held', ['User:carol'])]);
  const writes = (held: PolicyRule[], wanted: PolicyRule[]): boolean => authorizeRbacWrite(holding(held), carol, clusterRole('new', wanted)).allowed;
  const versions = (resources: string[]): PolicyRule => ({ apiGroups: ['coffer.dev'], resources, verbs: ['get'] });
  assert.equal(writes([versions(['*/versions'])], [versions(['secrets/versions'])]), true);
  assert.equal(writes([versions(['secrets'])], [versions(['secrets/versions'])]), false);
  assert.equal(writes([versions(['secrets/versions'])], [versions(['*/versions'])]), false);
  assert.equal(writes([{ ...secretRule(['get']), resourceNames: ['db'] }], [{ ...secretRule(['get']), resourceNames: ['db'] }]), true);
  assert.equal(writes([{ ...secretRule(['get']), resourceNames: ['db'] }], [secretRule(['get'])]), false);
  assert.equal(writes([secretRule(['get'])], [{ ...secretRule(['get']), resourceNames: ['db', 'cache'] }]), true);
  const url = (paths: string[]): PolicyRule => ({ nonResourceURLs: paths, verbs: ['get'] });
  assert.equal(writes([url(['/api/*'])], [url(['/api/v1', '/api/x*'])]), true);
  assert.equal(writes([url(['/api/*'])], [url(['/apis'])]), false);
  // A resource rule never covers a URL (verbs: get only, so the author may not simply escalate).
  assert.equal(writes([{ apiGroups: ['*'], resources: ['*'], verbs: ['get'] }], [url(['/healthz'])]), false);
});

test('binding a role that does not exist needs bind', () => {
  const refused = authorizeRbacWrite(compilePolicy(defaults), carol, roleBinding('team-a', 'b', { kind: 'Role', name: 'ghost' }, ['User:carol']));
  assert.equal(refused.allowed, false);
  assert.match(refused.reason, /Role "ghost" does not exist in namespace "team-a"/);
});

test('property: a role written by coverage, bound to its author, gives the author no new permission', () => {
  const newRules = fc.array(fc.oneof(singleRule, resourceRule, urlRule), { minLength: 1, maxLength: 2 });
  let byCoverage = 0;
  // The author is bound to one of the generated ClusterRoles (if it exists), so it usually holds something to hand out.
  const authorHolds = fc.constantFrom('r1', 'r2', 'r3');
  fc.assert(fc.property(policyObjects, caller, authorHolds, newRules, fc.array(requestArb, { minLength: 1, maxLength: 20 }), (generated, author, held, rules, requests) => {
    const raw = [...generated, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'author-holds' },
      subjects: [{ kind: 'User', name: author.user }], roleRef: { kind: 'ClusterRole', name: held },
    }];
    const before = compilePolicy(parse(raw));
    const created = clusterRole('created-by-author', rules);
    const decision = authorizeRbacWrite(before, author, created);
    if (decision.grantedBy !== 'coverage') return;
    byCoverage++;
    const after = compilePolicy([...parse(raw), created, clusterRoleBinding('bound-to-author', 'created-by-author', [`User:${author.user}`])]);
    for (const request of requests) {
      const asAuthor = { ...request, user: author.user, groups: author.groups };
      if (authorize(after, asAuthor).allowed) assert.ok(authorize(before, asAuthor).allowed, `new permission: ${JSON.stringify(asAuthor)}`);
    }
  }), { numRuns: 1000 });
  // Not vacuous: enough generated roles were allowed by coverage for the check to mean something.
  assert.ok(byCoverage > 30, `only ${byCoverage} of 1000 roles were allowed by coverage`);
});
