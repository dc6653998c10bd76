// Property tests of the authorizer against a reference written independently and as plainly as
// possible: walk every binding, check its subject, scope and role, and look for one matching rule
// using array lookups only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type AuthorizationRequest, type PolicyRule, authorize, compilePolicy } from '../../../src/rbac/index.ts';
import { parse, policyObjects, rbac, requestArb } from './arbitraries.ts';

// ── the reference ───────────────────────────────────────────────────────────────────────────────

interface Raw {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  subjects?: { kind: string; name: string }[];
  roleRef?: { kind: string; name: string };
}

// Cluster-scoped resources of this vocabulary, restated here rather than taken from the catalogue.
const clusterScopedHere = (apiGroup: string, resource: string): boolean =>
  (apiGroup === '' && resource === 'namespaces') || (apiGroup === rbac && resource === 'clusterroles');

function ruleMatches(rule: PolicyRule, request: AuthorizationRequest): boolean {
  if (!(rule.verbs.includes('*') || rule.verbs.includes(request.verb))) return false;
  const urls = rule.nonResourceURLs ?? [];
  if (request.nonResourcePath !== undefined) {
    const path = request.nonResourcePath;
    return urls.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
  }
  if (urls.length > 0) return false;
  const groupsOk = (rule.apiGroups ?? []).some((g) => g === '*' || g === request.apiGroup);
  const sub = request.subresource ?? '';
  const full = sub === '' ? request.resource : `${request.resource}/${sub}`;
  const resourceOk = (rule.resources ?? []).some((r) => r === '*' || r === full || (sub !== '' && r === `*/${sub}`));
  const names = rule.resourceNames ?? [];
  const nameOk = names.length === 0 || (request.name !== undefined && request.name !== '' && names.includes(request.name));
  return groupsOk && resourceOk && nameOk;
}

/** The bindings (kind/namespace/name) through which some rule matches the request. */
function matchingBindings(objects: readonly Raw[], request: AuthorizationRequest): string[] {
  const found: string[] = [];
  for (const binding of objects) {
    if (binding.kind !== 'RoleBinding' && binding.kind !== 'ClusterRoleBinding') continue;
    const namesCaller = (binding.subjects ?? []).some((s) => (s.kind === 'User' ? s.name === request.user : request.groups.includes(s.name)));
    if (!namesCaller) continue;
    if (binding.kind === 'RoleBinding') {
      if (request.nonResourcePath !== undefined) continue;
      if (request.namespace === undefined || request.namespace === '') continue;
      if (clusterScopedHere(request.apiGroup, request.resource)) continue;
      if (binding.metadata.namespace !== request.namespace) continue;
    }
    const ref = binding.roleRef;
    const role = objects.find((o) => o.kind === ref?.kind && o.metadata.name === ref.name
      && (o.kind === 'ClusterRole' || o.metadata.namespace === binding.metadata.namespace));
    if (role === undefined) continue;
    if ((role.rules ?? []).some((rule) => ruleMatches(rule, request))) {
      found.push(`${binding.kind}/${binding.metadata.namespace ?? ''}/${binding.metadata.name}`);
    }
  }
  return found;
}

// ── properties ──────────────────────────────────────────────────────────────────────────────────

test('no request without a matching rule is allowed, and the deciding binding does match', () => {
  fc.assert(fc.property(policyObjects, requestArb, (raw, request) => {
    const decision = authorize(compilePolicy(parse(raw)), request);
    if (!decision.allowed) return;
    const matches = matchingBindings(raw as Raw[], request);
    assert.ok(matches.length > 0, `allowed without a matching rule: ${decision.reason}`);
    const by = decision.decidedBy;
    assert.ok(by !== undefined);
    assert.ok(matches.includes(`${by.bindingKind}/${by.bindingNamespace ?? ''}/${by.bindingName}`), `decided by a binding that does not match: ${decision.reason}`);
  }), { numRuns: 5000 });
});

test('the deciding binding is the first matching one in policy order (ClusterRoleBindings by name, then RoleBindings by namespace and name)', () => {
  const rank = (key: string): string[] => {
    const [kind = '', namespace = '', name = ''] = key.split('/');
    return [kind === 'ClusterRoleBinding' ? '0' : '1', namespace, name];
  };
  const before = (a: string, b: string): boolean => {
    const [x, y] = [rank(a), rank(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
    return false;
  };
  fc.assert(fc.property(policyObjects, requestArb, (raw, request) => {
    const decision = authorize(compilePolicy(parse(raw)), request);
    const by = decision.decidedBy;
    if (by === undefined) return;
    const matches = matchingBindings(raw as Raw[], request);
    const first = matches.reduce((a, b) => (before(b, a) ? b : a));
    assert.equal(`${by.bindingKind}/${by.bindingNamespace ?? ''}/${by.bindingName}`, first, decision.reason);
  }), { numRuns: 5000 });
});

test('every request with a matching rule is allowed (nothing is denied that a rule grants)', () => {
  fc.assert(fc.property(policyObjects, requestArb, (raw, request) => {
    const expected = matchingBindings(raw as Raw[], request).length > 0;
    assert.equal(authorize(compilePolicy(parse(raw)), request).allowed, expected);
  }), { numRuns: 5000 });
});

test('decisions do not depend on the order objects are compiled in', () => {
  fc.assert(fc.property(policyObjects, fc.array(requestArb, { minLength: 1, maxLength: 10 }), (raw, requests) => {
    const forward = compilePolicy(parse(raw));
    const backward = compilePolicy(parse([...raw].reverse()));
    for (const request of requests) assert.deepEqual(authorize(backward, request), authorize(forward, request));
  }), { numRuns: 500 });
});

test('the generators reach both outcomes often (the properties are not vacuous)', () => {
  const samples = fc.sample(fc.tuple(policyObjects, requestArb), { numRuns: 2000, seed: 42 });
  const allowed = samples.filter(([raw, request]) => authorize(compilePolicy(parse(raw)), request).allowed).length;
  assert.ok(allowed > 100 && allowed < 1900, `allowed ${allowed} of 2000`);
});
