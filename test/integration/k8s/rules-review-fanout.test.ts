// The cost-amplification probe of 2026-12-06 as a regression test: a namespace admin (roles,
// rolebindings, configmaps and secrets in "default") writes one ~1 MiB Role it is covered for and binds
// it to itself hundreds of times. Its rules review must list that role once (before: once per binding,
// 400 MiB and an 11 s stall for 400 bindings), access reviews and requests must be decided as with one
// binding, naming the first binding in policy order, and an answer past rbacRulesReview*Max is cut and
// says `incomplete` with the limit as its evaluationError.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rbacRulesMax, rbacRulesReviewBytesMax } from '../../../src/config/index.ts';
import { type Api, asUser, call, startApi } from './harness.ts';

const BINDINGS = 200;
const nsadmin = asUser('nsadmin');
const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
const rulesReview = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const accessReview = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const nsadminSubject = [{ kind: 'User', name: 'nsadmin', apiGroup: 'rbac.authorization.k8s.io' }];
let api: Api;

const bigRules = (tag: string) => Array.from({ length: rbacRulesMax }, (_, i) => ({
  apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: Array.from({ length: 4 }, (_, j) => `${tag}${i}-${j}-`.padEnd(1000, 'x')),
}));

async function bind(name: string, roleName: string): Promise<void> {
  const reply = await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name }, subjects: nsadminSubject, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName } }, nsadmin);
  assert.equal(reply.status, 201, JSON.stringify(reply.body).slice(0, 300));
}

interface RulesStatus { resourceRules: unknown[]; nonResourceRules: unknown[]; incomplete: boolean; evaluationError?: string }

async function review(): Promise<{ bytes: number; status: RulesStatus }> {
  const reply = await api.app.inject({ method: 'POST', url: rulesReview, headers: { ...nsadmin, 'content-type': 'application/json' }, payload: JSON.stringify({ spec: { namespace: 'default' } }) });
  assert.equal(reply.statusCode, 201, reply.body.slice(0, 300));
  return { bytes: reply.rawPayload.length, status: reply.json<{ status: RulesStatus }>().status };
}

before(async () => {
  api = await startApi();
  const admin = await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'ns-admin' }, rules: [
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['*'] },
    { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['*'] },
  ] });
  assert.equal(admin.status, 201);
  const adminBinding = await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name: 'ns-admin' }, subjects: nsadminSubject, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ns-admin' } });
  assert.equal(adminBinding.status, 201);
  const big = await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'big' }, rules: bigRules('') }, nsadmin);
  assert.equal(big.status, 201, JSON.stringify(big.body).slice(0, 300));
});
after(async () => { await api.close(); });

test('a role bound to the caller 200 times is listed once: the same answer as for one binding', async () => {
  await bind('b000', 'big');
  const once = await review();
  assert.equal(once.status.incomplete, false);
  for (let i = 1; i < BINDINGS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, BINDINGS - i) }, (_, j) => bind(`b${String(i + j).padStart(3, '0')}`, 'big')));
  }
  const many = await review();
  assert.deepEqual(many.status, once.status);
  assert.equal(many.status.resourceRules.filter((r) => JSON.stringify(r).includes('xxxx')).length, rbacRulesMax);
  assert.ok(many.bytes < 1.2 * 1024 * 1024, `${many.bytes} bytes`);
});

test('access reviews and requests are decided as with one binding, naming the first binding in order', async () => {
  const can = async (resourceAttributes: Record<string, string>) => {
    const reply = await call(api.app, 'POST', accessReview, { spec: { resourceAttributes } }, nsadmin);
    assert.equal(reply.status, 201);
    return reply.body.status;
  };
  assert.deepEqual(await can({ namespace: 'default', verb: 'get', resource: 'configmaps', name: '9-1-'.padEnd(1000, 'x') }),
    { allowed: true, reason: 'RBAC: allowed by RoleBinding "default/b000" of Role "big"' });
  assert.deepEqual(await can({ namespace: 'default', verb: 'list', resource: 'pods' }), { allowed: false });
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/configmaps/nope', undefined, nsadmin)).status, 404);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/pods', undefined, nsadmin)).status, 403);
});

test('past rbacRulesReviewBytesMax the answer is cut, incomplete, and names the limit', async () => {
  const roles = Math.ceil(rbacRulesReviewBytesMax / (1024 * 1024)) + 1;
  for (let i = 0; i < roles; i++) {
    const reply = await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: `big${i}` }, rules: bigRules(`${i}-`) }, nsadmin);
    assert.equal(reply.status, 201, JSON.stringify(reply.body).slice(0, 300));
    await bind(`big${i}`, `big${i}`);
  }
  const cut = await review();
  assert.equal(cut.status.incomplete, true);
  assert.match(cut.status.evaluationError ?? '', /rbacRulesReviewBytesMax \(4194304 bytes\)/);
  assert.ok(cut.bytes < rbacRulesReviewBytesMax + 64 * 1024, `${cut.bytes} bytes`);
});
