// The Kubernetes-shaped API through app.inject() over a real single-member replica: every path and
// verb for Namespaces, Secrets, ConfigMaps and RBAC objects, and their errors (400, 404, 405, 409,
// 410, 413, 415, 422) as Kubernetes Status objects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requestBodyBytesMax } from '../../../src/config/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry } from '../../../src/registry/index.ts';
import { admin, asUser, bindClusterRole, call, configMap, policiesDir, secret, startApi, storeFingerprint, type Api, type Body, type Reply } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ns = '/api/v1/namespaces/default';

function assertStatus(reply: Reply, code: number, reason: string): void {
  assert.equal(reply.status, code, JSON.stringify(reply.body));
  assert.equal(reply.body.kind, 'Status');
  assert.equal(reply.body.apiVersion, 'v1');
  assert.equal(reply.body.status, 'Failure');
  assert.equal(reply.body.reason, reason);
  assert.equal(reply.body.code, code);
  assert.equal(typeof reply.body.message, 'string');
}

test('the first start created the namespaces default and coffer-system', async () => {
  const list = await call(api.app, 'GET', '/api/v1/namespaces');
  assert.equal(list.status, 200);
  assert.equal(list.body.kind, 'NamespaceList');
  assert.deepEqual(list.body.items.map((n) => n.metadata.name), ['coffer-system', 'default']);
  assert.deepEqual(list.body.items[0]?.status, { phase: 'Active' });
});

test('the first-start bootstrap is idempotent: run again (as every member does) it changes nothing, and never restores a deleted default', async () => {
  const policies = (await loadPolicies(policiesDir)).rbac;
  assert.equal((await call(api.app, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/auditor')).status, 200);
  const before = await storeFingerprint(api);
  const again = await Promise.all([bootstrapRegistry(api.backend, policies), bootstrapRegistry(api.backend, policies)]);
  assert.deepEqual(again, [{ createdNamespaces: [], loadedPolicies: false }, { createdNamespaces: [], loadedPolicies: false }]);
  assert.equal(await storeFingerprint(api), before);
  assert.equal((await call(api.app, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/auditor')).status, 404);
});

test('discovery documents describe the served resources', async () => {
  const apiRoot = await call(api.app, 'GET', '/api');
  assert.deepEqual(apiRoot.body.versions, ['v1']);
  const v1 = await call(api.app, 'GET', '/api/v1');
  assert.equal(v1.body.kind, 'APIResourceList');
  const byName = new Map(v1.body.resources.map((r) => [r.name, r]));
  assert.equal(byName.get('secrets')?.kind, 'Secret');
  assert.equal(byName.get('secrets')?.namespaced, true);
  assert.deepEqual(byName.get('configmaps')?.shortNames, ['cm']);
  assert.equal(byName.get('namespaces')?.namespaced, false);
  assert.ok(byName.get('secrets')?.verbs.includes('watch'));
  const apis = await call(api.app, 'GET', '/apis');
  assert.ok(apis.body.groups.some((g) => g.name === 'rbac.authorization.k8s.io'));
  const rbac = await call(api.app, 'GET', '/apis/rbac.authorization.k8s.io/v1');
  assert.deepEqual(rbac.body.resources.map((r) => r.name).sort(), ['clusterrolebindings', 'clusterroles', 'rolebindings', 'roles']);
  const coffer = await call(api.app, 'GET', '/apis/coffer.dev/v1');
  assert.equal(coffer.body.groupVersion, 'coffer.dev/v1');
  const version = await call(api.app, 'GET', '/version');
  assert.equal(version.body.major, '1');
  const openapi = await call(api.app, 'GET', '/openapi/v3');
  const gvUrl = openapi.body.paths['api/v1']?.serverRelativeURL ?? '';
  assert.notEqual(gvUrl, '');
  const gv = await call(api.app, 'GET', gvUrl);
  assert.ok(gv.body.paths['/api/v1/namespaces/{namespace}/configmaps']?.post.parameters.some((p) => p.name === 'fieldValidation'));
});

test('create sets uid, creationTimestamp and resourceVersion, and no generation (as Kubernetes for these kinds); get returns it; stringData is merged and not returned', async () => {
  const created = await call(api.app, 'POST', `${ns}/secrets`, { ...secret('db', { user: 'admin' }), stringData: { password: 'hunter2' } });
  assert.equal(created.status, 201);
  const meta = created.body.metadata;
  assert.match(meta.uid, /^[0-9a-f-]{36}$/);
  assert.match(meta.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(meta.generation, undefined);
  assert.match(meta.resourceVersion, /^\d+$/);
  assert.equal(meta.namespace, 'default');
  assert.deepEqual(created.body.data, { user: b64('admin'), password: b64('hunter2') });
  assert.equal(created.body.stringData, undefined);
  assert.equal(created.body.type, 'Opaque');
  const got = await call(api.app, 'GET', `${ns}/secrets/db`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, created.body);
  const local = await call(api.app, 'GET', `${ns}/secrets/db?consistency=serializable`);
  assert.deepEqual(local.body, created.body, 'a serializable read of this member sees its own applied write');
});

test('create of an existing name is 409 AlreadyExists; unknown namespace is 404', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('dup'));
  const again = await call(api.app, 'POST', `${ns}/configmaps`, configMap('dup'));
  assertStatus(again, 409, 'AlreadyExists');
  assert.equal(again.body.details.name, 'dup');
  const missing = await call(api.app, 'POST', '/api/v1/namespaces/nowhere/configmaps', configMap('x'));
  assertStatus(missing, 404, 'NotFound');
  assert.match(missing.body.message, /namespaces "nowhere" not found/);
});

test('get of a missing object is 404 NotFound naming it; an unknown path is 404 Status', async () => {
  const missing = await call(api.app, 'GET', `${ns}/secrets/absent`);
  assertStatus(missing, 404, 'NotFound');
  assert.equal(missing.body.message, 'secrets "absent" not found');
  assert.deepEqual(missing.body.details, { name: 'absent', group: '', kind: 'secrets' });
  assertStatus(await call(api.app, 'GET', '/api/v1/pods'), 404, 'NotFound');
});

test('update with the current resourceVersion succeeds; a stale one is 409 Conflict', async () => {
  const created = await call(api.app, 'POST', `${ns}/configmaps`, configMap('cas', { a: '1' }));
  const rv = created.body.metadata.resourceVersion;
  const updated = await call(api.app, 'PUT', `${ns}/configmaps/cas`, { ...configMap('cas', { a: '2' }), metadata: { name: 'cas', resourceVersion: rv } });
  assert.equal(updated.status, 200);
  assert.equal(updated.body.metadata.uid, created.body.metadata.uid);
  assert.equal(updated.body.metadata.creationTimestamp, created.body.metadata.creationTimestamp);
  assert.ok(Number(updated.body.metadata.resourceVersion) > Number(rv));
  const before = await storeFingerprint(api);
  const stale = await call(api.app, 'PUT', `${ns}/configmaps/cas`, { ...configMap('cas', { a: '3' }), metadata: { name: 'cas', resourceVersion: rv } });
  assertStatus(stale, 409, 'Conflict');
  assert.match(stale.body.message, /the object has been modified/);
  assert.equal(await storeFingerprint(api), before, 'a refused update changes nothing');
  const noRv = await call(api.app, 'PUT', `${ns}/configmaps/cas`, configMap('cas', { a: '4' }));
  assert.equal(noRv.status, 200, 'an update without resourceVersion is unconditional');
  const mismatch = await call(api.app, 'PUT', `${ns}/configmaps/cas`, configMap('other'));
  assertStatus(mismatch, 400, 'BadRequest');
  assertStatus(await call(api.app, 'PUT', `${ns}/configmaps/ghost`, configMap('ghost')), 404, 'NotFound');
});

test('PATCH: merge, strategic merge (as merge for these kinds) and JSON patch; other types are 415', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('patched', { a: '1', b: '2' }, { tier: 'web' }));
  const merge = await call(api.app, 'PATCH', `${ns}/configmaps/patched`, { data: { a: '10', b: null } }, admin, 'application/merge-patch+json');
  assert.equal(merge.status, 200);
  assert.deepEqual(merge.body.data, { a: '10' });
  const strategic = await call(api.app, 'PATCH', `${ns}/configmaps/patched`, {
    metadata: { labels: { env: 'prod' } }, data: { c: '3' }, '$setElementOrder/whatever': [],
  }, admin, 'application/strategic-merge-patch+json');
  assert.equal(strategic.status, 200);
  assert.deepEqual(strategic.body.data, { a: '10', c: '3' });
  assert.deepEqual(strategic.body.metadata.labels, { tier: 'web', env: 'prod' });
  const json = await call(api.app, 'PATCH', `${ns}/configmaps/patched`, [
    { op: 'test', path: '/data/a', value: '10' }, { op: 'remove', path: '/data/c' }, { op: 'add', path: '/data/d', value: '4' },
  ], admin, 'application/json-patch+json');
  assert.equal(json.status, 200);
  assert.deepEqual(json.body.data, { a: '10', d: '4' });
  const failedTest = await call(api.app, 'PATCH', `${ns}/configmaps/patched`, [{ op: 'test', path: '/data/a', value: 'nope' }], admin, 'application/json-patch+json');
  assertStatus(failedTest, 422, 'Invalid');
  const stalePatch = await call(api.app, 'PATCH', `${ns}/configmaps/patched`, { metadata: { resourceVersion: '1' }, data: { a: 'x' } }, admin, 'application/merge-patch+json');
  assertStatus(stalePatch, 409, 'Conflict');
  assertStatus(await call(api.app, 'PATCH', `${ns}/configmaps/patched`, { data: {} }, admin, 'application/json'), 415, 'UnsupportedMediaType');
});

test('DELETE returns a Success Status, then the object is 404; a resourceVersion precondition is honoured', async () => {
  const created = await call(api.app, 'POST', `${ns}/secrets`, secret('temp'));
  const wrong = await call(api.app, 'DELETE', `${ns}/secrets/temp`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } });
  assertStatus(wrong, 409, 'Conflict');
  const deleted = await call(api.app, 'DELETE', `${ns}/secrets/temp`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: created.body.metadata.resourceVersion } });
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body.status, 'Success');
  assert.equal(deleted.body.details.name, 'temp');
  assert.equal(JSON.stringify(deleted.body).includes(b64('s3cret')), false, 'the delete response carries no secret value');
  assertStatus(await call(api.app, 'GET', `${ns}/secrets/temp`), 404, 'NotFound');
  assertStatus(await call(api.app, 'DELETE', `${ns}/secrets/temp`), 404, 'NotFound');
});

test('validation: invalid names, data keys, base64 and secret types are 422 Invalid with field causes', async () => {
  const before = await storeFingerprint(api);
  const badName = await call(api.app, 'POST', `${ns}/secrets`, secret('Bad_Name'));
  assertStatus(badName, 422, 'Invalid');
  assert.match(badName.body.message, /^Secret "Bad_Name" is invalid: metadata\.name: Invalid value/);
  assert.equal(badName.body.details.causes[0]?.field, 'metadata.name');
  const badKey = await call(api.app, 'POST', `${ns}/configmaps`, configMap('k', { 'bad key': 'v' }));
  assertStatus(badKey, 422, 'Invalid');
  assert.equal(badKey.body.details.causes[0]?.field, 'data[bad key]');
  const badBase64 = await call(api.app, 'POST', `${ns}/secrets`, { metadata: { name: 'b64' }, data: { k: 'not base64!' } });
  assertStatus(badBase64, 422, 'Invalid');
  const cases: Array<[string, Record<string, string>, string]> = [
    ['kubernetes.io/tls', { 'tls.crt': 'c' }, 'data[tls.key]'],
    ['kubernetes.io/basic-auth', {}, 'data[username]'],
    ['kubernetes.io/ssh-auth', {}, 'data[ssh-privatekey]'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': '{not json' }, 'data[.dockerconfigjson]'],
  ];
  for (const [type, data, field] of cases) {
    const reply = await call(api.app, 'POST', `${ns}/secrets`, secret('typed', data, { type }));
    assertStatus(reply, 422, 'Invalid');
    assert.ok(reply.body.details.causes.some((c) => c.field === field), `${type}: ${JSON.stringify(reply.body.details.causes)}`);
    assert.equal(JSON.stringify(reply.body).includes('not json'), false, 'secret content never appears in an error');
  }
  assert.equal(await storeFingerprint(api), before, 'refused creates change nothing');
  for (const [type, data] of [['kubernetes.io/tls', { 'tls.crt': 'c', 'tls.key': 'k' }], ['kubernetes.io/basic-auth', { password: 'p' }], ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': '{"auths":{}}' }]] as const) {
    const ok = await call(api.app, 'POST', `${ns}/secrets`, secret(`ok-${type.split('/')[1]}`, data, { type }));
    assert.equal(ok.status, 201, `${type}: ${JSON.stringify(ok.body)}`);
  }
});

test('immutable: data updates are 422, metadata updates are allowed, type never changes', async () => {
  await call(api.app, 'POST', `${ns}/secrets`, secret('frozen', { k: 'v' }, { immutable: true }));
  const change = await call(api.app, 'PATCH', `${ns}/secrets/frozen`, { data: { k: b64('w') } }, admin, 'application/merge-patch+json');
  assertStatus(change, 422, 'Invalid');
  assert.match(change.body.message, /immutable/);
  const unfreeze = await call(api.app, 'PATCH', `${ns}/secrets/frozen`, { immutable: false }, admin, 'application/merge-patch+json');
  assertStatus(unfreeze, 422, 'Invalid');
  const label = await call(api.app, 'PATCH', `${ns}/secrets/frozen`, { metadata: { labels: { a: 'b' } } }, admin, 'application/merge-patch+json');
  assert.equal(label.status, 200);
  const retype = await call(api.app, 'PATCH', `${ns}/secrets/frozen`, { type: 'other' }, admin, 'application/merge-patch+json');
  assertStatus(retype, 422, 'Invalid');
});

test('immutable: the same data with its keys in another order is no change; one value changed is', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('frozen-pair', { a: '1', b: '2' }, { immutable: true }))).status, 201);
  const reordered = await call(api.app, 'PUT', `${ns}/secrets/frozen-pair`, secret('frozen-pair', { b: '2', a: '1' }, { immutable: true, metadata: { name: 'frozen-pair', labels: { x: 'y' } } }), admin);
  assert.equal(reordered.status, 200, JSON.stringify(reordered.body));
  const changed = await call(api.app, 'PUT', `${ns}/secrets/frozen-pair`, secret('frozen-pair', { b: '3', a: '1' }, { immutable: true }), admin);
  assertStatus(changed, 422, 'Invalid');
});

test('size limits: a body over requestBodyBytesMax is 413; data over objectBytesMax is 422', async () => {
  const before = await storeFingerprint(api);
  const huge = await call(api.app, 'POST', `${ns}/configmaps`, configMap('huge', { a: 'x'.repeat(requestBodyBytesMax) }));
  assertStatus(huge, 413, 'RequestEntityTooLarge');
  const big = await call(api.app, 'POST', `${ns}/configmaps`, configMap('big', { a: 'x'.repeat(1024 * 1024 + 1) }));
  assertStatus(big, 422, 'Invalid');
  assert.match(big.body.message, /data: Too long: must have at most 1048576 bytes/);
  assert.equal(await storeFingerprint(api), before);
});

test('fieldValidation=Strict refuses unknown fields (400); without it they are dropped', async () => {
  const before = await storeFingerprint(api);
  const strict = await call(api.app, 'POST', `${ns}/configmaps?fieldValidation=Strict`, { ...configMap('strict'), spec: { x: 1 }, metadata: { name: 'strict', colour: 'red' } });
  assertStatus(strict, 400, 'BadRequest');
  assert.match(strict.body.message, /strict decoding error: unknown field "\.spec", unknown field "\.metadata\.colour"/);
  assert.equal(await storeFingerprint(api), before);
  const lenient = await call(api.app, 'POST', `${ns}/configmaps`, { ...configMap('lenient'), spec: { x: 1 } });
  assert.equal(lenient.status, 201);
  assert.equal(lenient.body.spec, undefined, 'unknown fields are never stored or returned');
  const patch = await call(api.app, 'PATCH', `${ns}/configmaps/lenient?fieldValidation=Strict`, { extra: true }, admin, 'application/merge-patch+json');
  assertStatus(patch, 400, 'BadRequest');
});

test('bodies that are not JSON are 400 or 415; a malformed protobuf body is 400', async () => {
  assertStatus(await call(api.app, 'POST', `${ns}/configmaps`, '{"metadata":', admin), 400, 'BadRequest');
  assertStatus(await call(api.app, 'POST', `${ns}/configmaps`, '[1,2]', admin), 400, 'BadRequest');
  assertStatus(await call(api.app, 'POST', `${ns}/configmaps`, 'x=1', admin, 'application/x-www-form-urlencoded'), 415, 'UnsupportedMediaType');
  assertStatus(await call(api.app, 'POST', `${ns}/configmaps`, Buffer.from('garbage'), admin, 'application/vnd.kubernetes.protobuf'), 400, 'BadRequest');
});

test('list with labelSelector: =, ==, !=, in, notin, exists, !', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'sel' } });
  const mk = (name: string, labels: Record<string, string>) => call(api.app, 'POST', '/api/v1/namespaces/sel/configmaps', configMap(name, { a: '1' }, labels));
  await mk('web-prod', { tier: 'web', env: 'prod' });
  await mk('web-dev', { tier: 'web', env: 'dev' });
  await mk('db-prod', { tier: 'db', env: 'prod' });
  await mk('plain', {});
  const names = async (selector: string) => {
    const reply = await call(api.app, 'GET', `/api/v1/namespaces/sel/configmaps?labelSelector=${encodeURIComponent(selector)}`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.items.map((i) => i.metadata.name).sort();
  };
  assert.deepEqual(await names('tier=web'), ['web-dev', 'web-prod']);
  assert.deepEqual(await names('tier==db'), ['db-prod']);
  assert.deepEqual(await names('tier!=web'), ['db-prod', 'plain']);
  assert.deepEqual(await names('env in (prod,staging)'), ['db-prod', 'web-prod']);
  assert.deepEqual(await names('env notin (prod)'), ['plain', 'web-dev']);
  assert.deepEqual(await names('env'), ['db-prod', 'web-dev', 'web-prod']);
  assert.deepEqual(await names('!env'), ['plain']);
  assert.deepEqual(await names('tier=web,env=prod'), ['web-prod']);
  assertStatus(await call(api.app, 'GET', `/api/v1/namespaces/sel/configmaps?labelSelector=${encodeURIComponent('a in (b')}`), 400, 'BadRequest');
  const fields = await call(api.app, 'GET', '/api/v1/namespaces/sel/configmaps?fieldSelector=metadata.name%3Dplain');
  assert.deepEqual(fields.body.items.map((i) => i.metadata.name), ['plain']);
});

test('list with limit and continue pages through a consistent snapshot at the first page revision', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'pages' } });
  for (let i = 0; i < 7; i += 1) await call(api.app, 'POST', '/api/v1/namespaces/pages/configmaps', configMap(`cm-${i}`));
  const first = await call(api.app, 'GET', '/api/v1/namespaces/pages/configmaps?limit=3');
  assert.equal(first.body.items.length, 3);
  const token = first.body.metadata.continue;
  assert.equal(typeof token, 'string');
  // Changes after the first page are not seen by later pages.
  await call(api.app, 'DELETE', '/api/v1/namespaces/pages/configmaps/cm-5');
  await call(api.app, 'POST', '/api/v1/namespaces/pages/configmaps', configMap('cm-9'));
  const seen: Body['items'] = [...first.body.items];
  let next: string | undefined = token;
  while (next) {
    const page = await call(api.app, 'GET', `/api/v1/namespaces/pages/configmaps?limit=3&continue=${encodeURIComponent(next)}`);
    assert.equal(page.status, 200);
    assert.equal(page.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    seen.push(...page.body.items);
    next = page.body.metadata.continue;
  }
  assert.deepEqual(seen.map((i) => i.metadata.name), ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
  assertStatus(await call(api.app, 'GET', '/api/v1/namespaces/pages/configmaps?limit=3&continue=garbage'), 400, 'BadRequest');
  assertStatus(await call(api.app, 'GET', '/api/v1/namespaces/pages/configmaps?limit=-1'), 400, 'BadRequest');
});

test('a continue token older than the compacted history is 410 Expired', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'old' } });
  for (let i = 0; i < 3; i += 1) await call(api.app, 'POST', '/api/v1/namespaces/old/configmaps', configMap(`o-${i}`));
  const first = await call(api.app, 'GET', '/api/v1/namespaces/old/configmaps?limit=1');
  await call(api.app, 'POST', '/api/v1/namespaces/old/configmaps', configMap('o-late'));
  const revision = api.backend.mvcc().currentRevision();
  await api.backend.propose({ type: 'compact', revision });
  const expired = await call(api.app, 'GET', `/api/v1/namespaces/old/configmaps?limit=1&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`);
  assertStatus(expired, 410, 'Expired');
});

test('lists across all namespaces, and kubectl tables', async () => {
  const all = await call(api.app, 'GET', '/api/v1/secrets');
  assert.equal(all.body.kind, 'SecretList');
  assert.ok(all.body.items.some((s) => s.metadata.name === 'db' && s.metadata.namespace === 'default'));
  const table = await api.app.inject({ method: 'GET', url: `${ns}/secrets`, headers: { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' } });
  const body = table.json<Body>();
  assert.equal(body.kind, 'Table');
  assert.deepEqual(body.columnDefinitions.map((c) => c.name), ['Name', 'Type', 'Data', 'Age']);
  const row = body.rows.find((r) => r.cells[0] === 'db');
  assert.deepEqual(row?.cells.slice(0, 3), ['db', 'Opaque', 2]);
  assert.equal(row?.object.kind, 'PartialObjectMetadata');
  assert.equal(row?.object.data, undefined, 'table rows carry metadata only');
});

test('deleting a namespace marks it, then deletes everything in it in one revision; default and coffer-system are protected', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
  await call(api.app, 'POST', '/api/v1/namespaces/doomed/secrets', secret('s1'));
  await call(api.app, 'POST', '/api/v1/namespaces/doomed/configmaps', configMap('c1'));
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/doomed/roles', { metadata: { name: 'r' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }] });
  const revisionBefore = api.backend.mvcc().currentRevision();
  const deleted = await call(api.app, 'DELETE', '/api/v1/namespaces/doomed');
  assert.equal(deleted.status, 200);
  assert.equal(api.backend.mvcc().currentRevision(), revisionBefore + 2, 'the mark, then one txn for the contents and the namespace');
  assertStatus(await call(api.app, 'GET', '/api/v1/namespaces/doomed/secrets/s1'), 404, 'NotFound');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/doomed/configmaps')).body.items.length, 0);
  assert.equal((await call(api.app, 'GET', '/apis/rbac.authorization.k8s.io/v1/namespaces/doomed/roles')).body.items.length, 0);
  assertStatus(await call(api.app, 'POST', '/api/v1/namespaces/doomed/secrets', secret('s2')), 404, 'NotFound');
  assertStatus(await call(api.app, 'DELETE', '/api/v1/namespaces/default'), 403, 'Forbidden');
  assertStatus(await call(api.app, 'DELETE', '/api/v1/namespaces/coffer-system'), 403, 'Forbidden');
});

test('RBAC objects: create, get, list (namespaced and cluster), update, delete', async () => {
  const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader', namespace: 'default' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }] };
  const created = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', role);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.rules, role.rules);
  const cr = await call(api.app, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/secret-reader');
  assert.equal(cr.body.kind, 'ClusterRole');
  const all = await call(api.app, 'GET', '/apis/rbac.authorization.k8s.io/v1/roles');
  assert.ok(all.body.items.some((r) => r.metadata.name === 'reader'));
  const bad = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { metadata: { name: 'bad' }, rules: [{ resourceName: ['x'], verbs: ['get'] }] });
  assertStatus(bad, 422, 'Invalid');
  const binding = { metadata: { name: 'b' }, subjects: [{ kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' } };
  assert.equal((await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', binding)).status, 201);
  const rebind = await call(api.app, 'PUT', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/b', { ...binding, roleRef: { ...binding.roleRef, name: 'other' } });
  assertStatus(rebind, 422, 'Invalid');
  assert.equal((await call(api.app, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/b')).status, 200);
  assert.equal((await call(api.app, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/reader')).status, 200);
});

test('a request without an identity is 401 Unauthorized as a Status', async () => {
  const reply = await call(api.app, 'GET', `${ns}/secrets`, undefined, {});
  assertStatus(reply, 401, 'Unauthorized');
});

test('deletecollection needs its own verb, and answers a caller who may not get Secrets with redacted copies', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'dc' } });
  await call(api.app, 'POST', '/api/v1/namespaces/dc/secrets', secret('gone', { password: 'dc-marker-value' }));
  const before = await storeFingerprint(api);
  assertStatus(await call(api.app, 'DELETE', '/api/v1/namespaces/dc/secrets', undefined, asUser('nobody')), 403, 'Forbidden');
  assert.equal(await storeFingerprint(api), before);

  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'sweeper' }, rules: [{ verbs: ['deletecollection', 'list'], apiGroups: [''], resources: ['secrets'] }] });
  await bindClusterRole(api.app, 'sweeper-binding', 'sweeper', 'sweeper');
  const swept = await call(api.app, 'DELETE', '/api/v1/namespaces/dc/secrets', undefined, asUser('sweeper'));
  assert.equal(swept.status, 200, JSON.stringify(swept.body));
  assert.deepEqual(swept.body.items.map((i) => i.metadata.name), ['gone']);
  assert.equal(swept.body.items[0]?.data, undefined);
  assert.doesNotMatch(JSON.stringify(swept.body), new RegExp(`dc-marker-value|${b64('dc-marker-value')}`));
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/dc/secrets/gone')).status, 404);
});
