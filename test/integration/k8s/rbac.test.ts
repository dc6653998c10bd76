// RBAC through the API for several identities, with the default policies loaded at first start:
// discovery for everyone, default deny, Kubernetes' Forbidden message, role and binding scope,
// the escalation check on RBAC writes, policy changes taking effect at once, the KV API under /v3
// by RBAC, and Secret lists that carry values only for objects the caller may get.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, configMap, secret, startApi, type Api } from './harness.ts';

let api: Api;
before(async () => {
  api = await startApi();
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'team' } });
  await call(api.app, 'POST', '/api/v1/namespaces/default/secrets', secret('db', { password: 'p1' }));
  await call(api.app, 'POST', '/api/v1/namespaces/team/secrets', secret('api-key', { key: 'k1' }));
});
after(async () => { await api.close(); });

const rbac = '/apis/rbac.authorization.k8s.io/v1';
const as = (user: string, groups: string[] = []) => ({ 'x-user': user, 'x-groups': groups.join(',') });
const bind = (kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, role: { kind: 'ClusterRole' | 'Role'; name: string }, subject: { kind: 'User' | 'Group'; name: string }) => ({
  metadata: { name }, subjects: [{ ...subject, apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...role },
});

test('any verified identity may read discovery, version and health; nothing else by default', async () => {
  const nobody = as('nobody');
  for (const path of ['/api', '/api/v1', '/apis', '/apis/rbac.authorization.k8s.io/v1', '/version', '/openapi/v3', '/livez']) {
    assert.equal((await call(api.app, 'GET', path, undefined, nobody)).status, 200, path);
  }
  const denied = await call(api.app, 'GET', '/api/v1/namespaces/default/secrets', undefined, nobody);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.kind, 'Status');
  assert.equal(denied.body.reason, 'Forbidden');
  assert.equal(denied.body.message, 'secrets is forbidden: User "nobody" cannot list resource "secrets" in API group "" in the namespace "default"');
  const named = await call(api.app, 'GET', '/api/v1/namespaces/default/secrets/db', undefined, nobody);
  assert.equal(named.body.message, 'secrets "db" is forbidden: User "nobody" cannot get resource "secrets" in API group "" in the namespace "default"');
  assert.deepEqual(named.body.details, { name: 'db', group: '', kind: 'secrets' });
  const cluster = await call(api.app, 'GET', '/api/v1/namespaces', undefined, nobody);
  assert.match(cluster.body.message, /at the cluster scope$/);
  // A denied request is decided before routing: even a path that does not exist is 403, not 404.
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/pods', undefined, nobody)).status, 403);
});

test('secret-reader through a ClusterRoleBinding to a group: read everywhere, write nowhere', async () => {
  await call(api.app, 'POST', `${rbac}/clusterrolebindings`, bind('ClusterRoleBinding', 'readers', { kind: 'ClusterRole', name: 'secret-reader' }, { kind: 'Group', name: 'readers' }));
  const reader = as('rita', ['readers']);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/team/secrets/api-key', undefined, reader)).status, 200);
  assert.equal((await call(api.app, 'GET', '/api/v1/secrets', undefined, reader)).status, 200);
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/default/secrets', secret('nope'), reader)).status, 403);
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/default/secrets/db', undefined, reader)).status, 403);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/configmaps', undefined, reader)).status, 403);
});

test('configmap-editor through a RoleBinding grants only in its namespace', async () => {
  await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'editors', { kind: 'ClusterRole', name: 'configmap-editor' }, { kind: 'User', name: 'eve' }));
  const eve = as('eve');
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/team/configmaps', configMap('settings'), eve)).status, 201);
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/default/configmaps', configMap('settings'), eve)).status, 403);
  assert.equal((await call(api.app, 'GET', '/api/v1/configmaps', undefined, eve)).status, 403, 'a RoleBinding never grants across namespaces');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/team/secrets', undefined, eve)).status, 403);
});

test('a policy change takes effect on the next request', async () => {
  const frank = as('frank');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces', undefined, frank)).status, 403);
  await call(api.app, 'POST', `${rbac}/clusterrolebindings`, bind('ClusterRoleBinding', 'frank-view', { kind: 'ClusterRole', name: 'viewer' }, { kind: 'User', name: 'frank' }));
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces', undefined, frank)).status, 200);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/secrets', undefined, frank)).status, 403, 'viewer reads no secrets');
  await call(api.app, 'DELETE', `${rbac}/clusterrolebindings/frank-view`);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces', undefined, frank)).status, 403);
});

test('RBAC writes pass the escalation check: a binding may grant only what the writer holds', async () => {
  // gina may write RoleBindings in team and holds configmap-editor there, but not secret-reader.
  await call(api.app, 'POST', `${rbac}/namespaces/team/roles`, { metadata: { name: 'binder' }, rules: [{ verbs: ['create', 'get', 'list'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'] }] });
  await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'gina-binder', { kind: 'Role', name: 'binder' }, { kind: 'User', name: 'gina' }));
  await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'gina-cm', { kind: 'ClusterRole', name: 'configmap-editor' }, { kind: 'User', name: 'gina' }));
  const gina = as('gina');
  const escalate = await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'sneaky', { kind: 'ClusterRole', name: 'secret-reader' }, { kind: 'User', name: 'gina' }), gina);
  assert.equal(escalate.status, 403);
  assert.equal(escalate.body.reason, 'Forbidden');
  assert.match(escalate.body.message, /attempting to grant RBAC permissions not currently held/);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/team/secrets', undefined, gina)).status, 403, 'the refused binding was not stored');
  const fine = await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'share-cm', { kind: 'ClusterRole', name: 'configmap-editor' }, { kind: 'User', name: 'hank' }), gina);
  assert.equal(fine.status, 201, JSON.stringify(fine.body));
});

test('a Secret list carries values only for objects the caller may get by name', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces/team/secrets', secret('public-cert', { crt: 'cert' }));
  await call(api.app, 'POST', `${rbac}/namespaces/team/roles`, { metadata: { name: 'list-and-one' }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['secrets'] }, { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['public-cert'] }] });
  await call(api.app, 'POST', `${rbac}/namespaces/team/rolebindings`, bind('RoleBinding', 'ivy', { kind: 'Role', name: 'list-and-one' }, { kind: 'User', name: 'ivy' }));
  const list = await call(api.app, 'GET', '/api/v1/namespaces/team/secrets', undefined, as('ivy'));
  assert.equal(list.status, 200);
  const byName = new Map(list.body.items.map((i) => [i.metadata.name, i]));
  assert.deepEqual(byName.get('public-cert')?.data, { crt: Buffer.from('cert').toString('base64') });
  assert.equal(byName.get('api-key')?.data, undefined);
  assert.equal(byName.get('api-key')?.metadata.annotations?.['coffer.dev/data-redacted'], 'true');
  assert.equal(JSON.stringify(list.body).includes(Buffer.from('k1').toString('base64')), false);
  // A redacted copy written back would erase the values: refused.
  const writeBack = await call(api.app, 'PUT', '/api/v1/namespaces/team/secrets/api-key', byName.get('api-key'));
  assert.equal(writeBack.status, 422);
  const still = await call(api.app, 'GET', '/api/v1/namespaces/team/secrets/api-key');
  assert.deepEqual(still.body.data, { key: Buffer.from('k1').toString('base64') });
});

test('the KV API under /v3 is decided by RBAC: administrators yes, others and member certificates no', async () => {
  const body = { key: Buffer.from('k').toString('base64') };
  const member = await call(api.app, 'POST', '/v3/kv/range', body, as('system:member:m2', ['system:members']));
  assert.equal(member.status, 403, 'members replicate over the peer port; the KV API is not theirs');
  assert.equal(member.body.code, 7);
  assert.equal((await call(api.app, 'POST', '/v3/kv/range', body)).status, 200);
  const denied = await call(api.app, 'POST', '/v3/kv/range', body, as('rita', ['readers']));
  assert.equal(denied.status, 403);
  assert.equal(denied.body.code, 7, 'etcd gateway shape on /v3');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/default/secrets', undefined, as('system:member:m2', ['system:members']))).status, 403, 'members get nothing of the resource API');
});
