// Bad input with fast-check, through app.inject() over a real replica: random and malformed bodies,
// names, paths, selectors and tokens never give a 5xx, and a refused request never changes the store
// (the store's hash and revision are equal before and after). Also: a caller without bindings is
// never allowed a resource request, whatever the path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admin, call, startApi, storeFingerprint, type Api } from './harness.ts';

let api: Api;
before(async () => {
  api = await startApi();
  // An object named ok-name in every collection, so updates and patches reach validation.
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'ok-name' } });
  await call(api.app, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'ok-name' }, data: { a: 'YQ==' } });
  await call(api.app, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'ok-name' }, data: { a: 'b' } });
  const rule = [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }];
  const subjects = [{ kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' }];
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'ok-name' }, rules: rule });
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { metadata: { name: 'ok-name' }, rules: rule });
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', { metadata: { name: 'ok-name' }, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ok-name' } });
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { metadata: { name: 'ok-name' }, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ok-name' } });
});
after(async () => { await api.close(); });

const collections = [
  '/api/v1/namespaces', '/api/v1/namespaces/default/secrets', '/api/v1/namespaces/default/configmaps',
  '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
  '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
];
const contentTypes = ['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/vnd.kubernetes.protobuf', 'text/plain'];

/** Object-shaped bodies that look like API objects with random parts (more likely to reach validation than fc.anything). */
const objectish = fc.record({
  apiVersion: fc.oneof(fc.constant('v1'), fc.constant('rbac.authorization.k8s.io/v1'), fc.string()),
  kind: fc.oneof(fc.constantFrom('Secret', 'ConfigMap', 'Namespace', 'Role', 'ClusterRoleBinding'), fc.string()),
  metadata: fc.oneof(
    fc.record({ name: fc.oneof(fc.string(), fc.constantFrom('ok-name', 'x'.repeat(300), 'a/b', '..', '__proto__')), labels: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), resourceVersion: fc.oneof(fc.string(), fc.constant('1')) }, { requiredKeys: [] }),
    fc.anything(),
  ),
  data: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.base64String(), fc.constant(null), fc.integer())), fc.anything()),
  stringData: fc.dictionary(fc.string(), fc.string()),
  type: fc.oneof(fc.constantFrom('Opaque', 'kubernetes.io/tls', 'kubernetes.io/basic-auth', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/ssh-auth'), fc.string()),
  immutable: fc.anything(),
  rules: fc.anything(),
  subjects: fc.anything(),
  roleRef: fc.anything(),
}, { requiredKeys: [] });

test('random bodies to every collection and item, with every method and content type: never 5xx, refusals change nothing', async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...collections), fc.oneof(fc.constant(''), fc.constant('/ok-name'), fc.constantFrom('/x', '/default'), fc.string().map((s) => `/${encodeURIComponent(s)}`)),
    fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE', 'GET'), fc.constantFrom(...contentTypes),
    fc.oneof(
      { arbitrary: objectish, weight: 4 }, fc.anything(), fc.string(), fc.json(),
      fc.array(fc.record({ op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'x'), path: fc.oneof(fc.string(), fc.constantFrom('/data/a', '/metadata/name', '/__proto__/x', '/rules/0', '/data/-')), from: fc.string(), value: fc.anything() }, { requiredKeys: ['op', 'path'] })),
    ),
    async (collection, item, method, contentType, body) => {
      const before = await storeFingerprint(api);
      const payload = typeof body === 'string' ? body : JSON.stringify(body) ?? 'null';
      const reply = await api.app.inject({ method, url: `${collection}${item}`, headers: { ...admin, 'content-type': contentType }, payload });
      assert.ok(reply.statusCode < 500, `${method} ${collection}${item} ${contentType}: ${reply.statusCode} ${reply.body}`);
      if (reply.statusCode >= 400) {
        assert.equal(reply.json<{ kind: string }>().kind, 'Status');
        assert.equal(await storeFingerprint(api), before, `${method} ${collection}${item} refused but changed the store`);
      }
    },
  ), { numRuns: 400 });
});

test('random object-shaped bodies created and replaced in every collection: never 5xx, refusals change nothing', async () => {
  const seen = new Set<number>();
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...collections), fc.boolean(), objectish.map(({ apiVersion: _v, kind: _k, ...rest }) => rest),
    async (collection, replace, body) => {
      const before = await storeFingerprint(api);
      const reply = await api.app.inject({ method: replace ? 'PUT' : 'POST', url: replace ? `${collection}/ok-name` : collection, headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      seen.add(reply.statusCode);
      assert.ok(reply.statusCode < 500, `${collection}: ${reply.statusCode} ${reply.body}`);
      if (reply.statusCode >= 400) assert.equal(await storeFingerprint(api), before, `${collection} refused but changed the store`);
    },
  ), { numRuns: 300 });
  assert.ok(seen.has(422), 'the bodies reach validation');
});

test('random paths, query strings, selectors and continue tokens: never 5xx, GETs change nothing', async () => {
  const segment = fc.oneof(fc.string(), fc.constantFrom('api', 'apis', 'v1', 'namespaces', 'default', 'secrets', 'configmaps', '%2F', '..', '%00', 'watch'));
  await fc.assert(fc.asyncProperty(
    fc.array(segment, { maxLength: 7 }), fc.dictionary(fc.constantFrom('labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'timeoutSeconds', 'includeObject'), fc.string()),
    async (segments, query) => {
      const before = await storeFingerprint(api);
      const url = `/${segments.map((s) => encodeURIComponent(s)).join('/')}?${new URLSearchParams(query).toString()}`;
      const reply = await api.app.inject({ method: 'GET', url, headers: admin });
      assert.ok(reply.statusCode < 500, `${url}: ${reply.statusCode} ${reply.body}`);
      assert.equal(await storeFingerprint(api), before);
    },
  ), { numRuns: 250 });
});

test('a caller without bindings is refused every resource request (default deny)', async () => {
  const resources = ['secrets', 'configmaps', 'namespaces', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings', 'anything'];
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'), fc.constantFrom('/api/v1', '/apis/rbac.authorization.k8s.io/v1', '/apis/coffer.dev/v1'),
    fc.option(fc.constantFrom('default', 'team', 'x')), fc.constantFrom(...resources), fc.option(fc.constantFrom('a', 'db')), fc.boolean(),
    fc.constantFrom('stranger', 'system:member:m1'), fc.array(fc.constantFrom('devs', 'system:members', 'system:authenticated'), { maxLength: 2 }),
    async (method, base, namespace, resource, name, watch, user, groups) => {
      const url = `${base}${namespace ? `/namespaces/${namespace}` : ''}/${resource}${name ? `/${name}` : ''}${watch ? '?watch=true' : ''}`;
      const reply = await api.app.inject({ method, url, headers: { 'x-user': user, 'x-groups': groups.join(','), 'content-type': 'application/json' }, payload: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
      assert.equal(reply.statusCode, 403, `${method} ${url} as ${user}: ${reply.statusCode}`);
      assert.equal(reply.json<{ reason: string }>().reason, 'Forbidden');
    },
  ), { numRuns: 200 });
});
