// The self reviews of `kubectl auth can-i`, `auth can-i --list` and `auth whoami` through the API with
// the default policies: every identity may ask about itself and is answered from the same RBAC that
// decides its requests (impersonation included); the protobuf bodies kubectl 1.32 sends decode to the
// same answers; malformed bodies and questions about someone else are refused; discovery announces the
// groups; bindings' tables carry the users, groups and service accounts `-o wide` prints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { admin, asUser, bindClusterRole, call, startApi, storeFingerprint, type Api } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const access = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const rules = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const whoami = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const canI = (resourceAttributes: Record<string, string>) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } });
const getSecrets = { namespace: 'default', verb: 'get', resource: 'secrets' };

/** A Kubernetes protobuf body: the magic, then runtime.Unknown {typeMeta {apiVersion, kind}, raw}. */
function protobuf(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const typeMeta = Buffer.concat([field(1, Buffer.from(apiVersion)), field(2, Buffer.from(kind))]);
  return Buffer.concat([Buffer.from('k8s\0', 'binary'), field(1, typeMeta), field(2, raw)]);
}

function field(n: number, bytes: Buffer): Buffer {
  assert.ok(bytes.length < 128, 'a one-byte length');
  return Buffer.concat([Buffer.from([(n << 3) | 2, bytes.length]), bytes]);
}

test('can-i: the administrator may, a user without bindings may not, then may once bound', async () => {
  const asAdmin = await call(api.app, 'POST', access, canI(getSecrets));
  assert.equal(asAdmin.status, 201);
  assert.equal(asAdmin.body.kind, 'SelfSubjectAccessReview');
  assert.deepEqual(asAdmin.body.status, { allowed: true, reason: 'RBAC: allowed by the privileged group "system:masters"' });
  assert.deepEqual(asAdmin.body.spec, { resourceAttributes: getSecrets });
  const before = await call(api.app, 'POST', access, canI(getSecrets), asUser('carol'));
  assert.equal(before.status, 201);
  assert.deepEqual(before.body.status, { allowed: false });
  await bindClusterRole(api.app, 'carol-reads', 'secret-reader', 'carol');
  const after = await call(api.app, 'POST', access, canI(getSecrets), asUser('carol'));
  assert.deepEqual(after.body.status, { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "carol-reads" of ClusterRole "secret-reader"' });
  // Subresources and non-resource paths are decided as requests for them would be.
  const rotate = await call(api.app, 'POST', access, canI({ namespace: 'default', verb: 'create', group: 'coffer.dev', resource: 'secrets', subresource: 'rotate', name: 'db' }), asUser('carol'));
  assert.equal((rotate.body.status as { allowed: boolean }).allowed, false);
  const health = await call(api.app, 'POST', access, { spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } } }, asUser('carol'));
  assert.equal((health.body.status as { allowed: boolean }).allowed, true);
  const metrics = await call(api.app, 'POST', access, { spec: { nonResourceAttributes: { path: '/metrics', verb: 'get' } } }, asUser('carol'));
  assert.equal((metrics.body.status as { allowed: boolean }).allowed, false);
});

test('the reviews answer for the impersonated identity', async () => {
  const asNobody = { ...admin, 'impersonate-user': 'nobody' };
  const review = await call(api.app, 'POST', access, canI(getSecrets), asNobody);
  assert.deepEqual(review.body.status, { allowed: false });
  const me = await call(api.app, 'POST', whoami, {}, asNobody);
  assert.deepEqual(me.body.status, { userInfo: { username: 'nobody', groups: ['system:authenticated'] } });
});

test('whoami names the caller and its groups', async () => {
  const me = await call(api.app, 'POST', whoami, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, asUser('dave', ['devs']));
  assert.equal(me.status, 201);
  assert.deepEqual(me.body, { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, status: { userInfo: { username: 'dave', groups: ['devs', 'system:authenticated'] } } });
});

test('can-i --list: the rules of the bindings in scope, resource and non-resource', async () => {
  const role = { metadata: { name: 'cm-reader', namespace: 'default' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['app'] }] };
  assert.equal((await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', role)).status, 201);
  const binding = { metadata: { name: 'erin-cm' }, subjects: [{ kind: 'User', name: 'erin', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' } };
  assert.equal((await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', binding)).status, 201);
  const list = async (namespace: string) => {
    const reply = await call(api.app, 'POST', rules, { spec: { namespace } }, asUser('erin'));
    assert.equal(reply.status, 201);
    return reply.body.status as { resourceRules: Array<Record<string, unknown>>; nonResourceRules: Array<{ nonResourceURLs: string[] }>; incomplete: boolean };
  };
  const inDefault = await list('default');
  assert.equal(inDefault.incomplete, false);
  assert.deepEqual(inDefault.resourceRules.filter((r) => (r.resources as string[]).includes('configmaps')), [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app'] }]);
  assert.ok(inDefault.resourceRules.some((r) => (r.resources as string[]).includes('selfsubjectaccessreviews')));
  assert.ok(inDefault.nonResourceRules.some((r) => r.nonResourceURLs.includes('/healthz')));
  const elsewhere = await list('kube-system');
  assert.ok(!elsewhere.resourceRules.some((r) => (r.resources as string[]).includes('configmaps')), 'a RoleBinding grants only in its namespace');
});

test('the protobuf bodies kubectl sends are answered as their JSON would be', async () => {
  // As kubectl 1.32 encodes `auth can-i get secrets -n default` (captured with -v=8).
  const attributes = Buffer.concat([field(1, Buffer.from('default')), field(2, Buffer.from('get')), field(3, Buffer.alloc(0)), field(5, Buffer.from('secrets'))]);
  const body = protobuf('authorization.k8s.io/v1', 'SelfSubjectAccessReview', Buffer.concat([field(1, Buffer.alloc(0)), field(2, field(1, attributes))]));
  const contentType = 'application/vnd.kubernetes.protobuf';
  const review = await call(api.app, 'POST', access, body, asUser('frank'), contentType);
  assert.equal(review.status, 201, JSON.stringify(review.body));
  assert.deepEqual(review.body.spec, { resourceAttributes: { namespace: 'default', verb: 'get', group: '', resource: 'secrets' } });
  assert.deepEqual(review.body.status, { allowed: false });
  const listed = await call(api.app, 'POST', rules, protobuf('authorization.k8s.io/v1', 'SelfSubjectRulesReview', field(2, field(1, Buffer.from('default')))), asUser('frank'), contentType);
  assert.equal(listed.status, 201);
  assert.deepEqual(listed.body.spec, { namespace: 'default' });
  const me = await call(api.app, 'POST', whoami, protobuf('authentication.k8s.io/v1', 'SelfSubjectReview', Buffer.alloc(0)), asUser('frank'), contentType);
  assert.deepEqual(me.body.status, { userInfo: { username: 'frank', groups: ['system:authenticated'] } });
});

test('malformed reviews are 400 Status and change nothing', async () => {
  const before = await storeFingerprint(api);
  const bad: Array<[string, unknown, RegExp]> = [
    [access, [], /the body must be an object/],
    [access, { spec: {} }, /exactly one of resourceAttributes and nonResourceAttributes/],
    [access, { spec: { resourceAttributes: getSecrets, nonResourceAttributes: { path: '/healthz', verb: 'get' } } }, /exactly one/],
    [access, canI({ namespace: 'default', resource: 'secrets' }), /spec\.resourceAttributes\.verb: required/],
    [access, canI({ verb: 'get' }), /spec\.resourceAttributes\.resource: required/],
    [access, { spec: { resourceAttributes: { verb: 'get', resource: 7 } } }, /resource must be a string/],
    [access, canI({ verb: 'get', resource: 'x'.repeat(1025) }), /reviewAttributeLengthMax/],
    [access, { spec: { nonResourceAttributes: { path: 'healthz', verb: 'get' } } }, /is not a path starting with \//],
    [access, { kind: 'SubjectAccessReview', spec: { resourceAttributes: getSecrets } }, /kind: "SubjectAccessReview" is not SelfSubjectAccessReview/],
    [access, { spec: { resourceAttributes: { ...getSecrets, size: '1' } } }, /unknown field "size"/],
    [rules, { spec: { namespace: 1 } }, /spec\.namespace must be a string/],
    [whoami, { apiVersion: 'authentication.k8s.io/v1beta1' }, /apiVersion: "authentication\.k8s\.io\/v1beta1" is not authentication\.k8s\.io\/v1/],
  ];
  for (const [url, body, message] of bad) {
    const reply = await call(api.app, 'POST', url, body, asUser('grace'));
    assert.equal(reply.status, 400, `${url} ${JSON.stringify(body).slice(0, 80)}`);
    assert.equal(reply.body.kind, 'Status');
    assert.equal(reply.body.reason, 'BadRequest');
    assert.match(String(reply.body.message), message);
  }
  const garbage = await call(api.app, 'POST', access, Buffer.from('k8s\0\x0a\xff', 'binary'), asUser('grace'), 'application/vnd.kubernetes.protobuf');
  assert.equal(garbage.status, 400);
  assert.equal(garbage.body.kind, 'Status');
  assert.equal(await storeFingerprint(api), before);
});

test('a review about another user is not served', async () => {
  // A SelfSubjectAccessReview that names a user is refused rather than answered for the caller.
  for (const spec of [{ user: 'admin' }, { groups: ['system:masters'] }]) {
    const named = await call(api.app, 'POST', access, { spec: { resourceAttributes: getSecrets, ...spec } }, asUser('grace'));
    assert.equal(named.status, 400);
    assert.match(String(named.body.message), /asks about its caller only/);
  }
  // SubjectAccessReview (about anyone) is no route: forbidden to a plain user, not found for the administrator.
  const sar = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'admin', resourceAttributes: getSecrets } };
  assert.equal((await call(api.app, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', sar, asUser('grace'))).status, 403);
  assert.equal((await call(api.app, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', sar)).status, 404);
});

test('discovery announces the review groups and coffer.dev/v1 with its Secret subresources', async () => {
  const apis = await call(api.app, 'GET', '/apis', undefined, asUser('grace'));
  assert.deepEqual((apis.body.groups as Array<{ name: string }>).map((g) => g.name).sort(), ['authentication.k8s.io', 'authorization.k8s.io', 'coffer.dev', 'rbac.authorization.k8s.io']);
  const resources = async (path: string) => {
    const reply = await call(api.app, 'GET', path, undefined, asUser('grace'));
    assert.equal(reply.status, 200, path);
    return reply.body.resources as Array<{ name: string; verbs: string[] }>;
  };
  assert.deepEqual((await resources('/apis/authorization.k8s.io/v1')).map((r) => [r.name, r.verbs]), [['selfsubjectaccessreviews', ['create']], ['selfsubjectrulesreviews', ['create']]]);
  assert.deepEqual((await resources('/apis/authentication.k8s.io/v1')).map((r) => [r.name, r.verbs]), [['selfsubjectreviews', ['create']]]);
  assert.deepEqual((await resources('/apis/coffer.dev/v1')).map((r) => r.name), ['secrets/versions', 'secrets/rotate', 'secrets/promote', 'secrets/rollback']);
  assert.equal((await call(api.app, 'GET', '/apis/authorization.k8s.io', undefined, asUser('grace'))).body.kind, 'APIGroup');
});

test('a binding\'s table carries the users and groups of -o wide (no service accounts in Coffer)', async () => {
  const binding = {
    metadata: { name: 'wide' },
    subjects: [
      { kind: 'User', name: 'u1', apiGroup: 'rbac.authorization.k8s.io' }, { kind: 'User', name: 'u2', apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'Group', name: 'g1', apiGroup: 'rbac.authorization.k8s.io' },
    ],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'viewer' },
  };
  assert.equal((await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status, 201);
  const reply = await api.app.inject({ method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/wide', headers: { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
  const table = reply.json<{ columnDefinitions: Array<{ name: string; priority: number }>; rows: Array<{ cells: unknown[] }> }>();
  assert.deepEqual(table.columnDefinitions.map((c) => [c.name, c.priority]), [['Name', 0], ['Role', 0], ['Age', 0], ['Users', 1], ['Groups', 1], ['ServiceAccounts', 1]]);
  const [name, role, , users, groups, serviceAccounts] = table.rows[0]!.cells;
  assert.deepEqual([name, role, users, groups, serviceAccounts], ['wide', 'ClusterRole/viewer', 'u1, u2', 'g1', '']);
});
