// Server-side apply and metadata.managedFields through app.inject() over a real single-member replica:
// every write records its manager; an apply creates, merges, prunes what its manager stopped applying
// (never what another manager owns, even below a node the applier owned),
// refuses (409, naming field and manager) what another manager owns, takes it with force=true, changes
// nothing when applied again or as a dry run; bad options and bodies are refused and change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { managedFieldsApplyManagersMax } from '../../../src/config/index.ts';
import { asUser, bindClusterRole, call, type Api, type Reply, startApi, storeFingerprint } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const ns = '/api/v1/namespaces/default';
const applyType = 'application/apply-patch+yaml';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

interface Entry { manager: string; operation: string; apiVersion: string; time: string; fieldsType: string; fieldsV1: Record<string, unknown> }
const managed = (reply: Reply): Entry[] => ((reply.body.metadata as unknown as { managedFields?: Entry[] }).managedFields ?? []);
const entryOf = (reply: Reply, manager: string, operation = 'Apply'): Entry | undefined => managed(reply).find((e) => e.manager === manager && e.operation === operation);

function apply(path: string, body: unknown, query: string, who = asUser('admin', ['system:masters'])): Promise<Reply> {
  return call(api.app, 'PATCH', `${path}?${query}`, typeof body === 'string' ? body : JSON.stringify(body), who, applyType);
}

test('every write records its manager: fieldManager, else the User-Agent before its first "/"; field names, never values', async () => {
  const created = await api.app.inject({
    method: 'POST', url: `${ns}/secrets`, headers: { 'x-user': 'admin', 'x-groups': 'system:masters', 'content-type': 'application/json', 'user-agent': 'kubectl-create/v1.32.0 (linux/amd64) kubernetes/abc' },
    payload: JSON.stringify({ metadata: { name: 'recorded', labels: { app: 'web' } }, stringData: { password: 'hunter2-value' } }),
  });
  assert.equal(created.statusCode, 201, created.body);
  const body = created.json<{ metadata: { managedFields: Entry[] } }>();
  assert.deepEqual(body.metadata.managedFields.map((e) => [e.manager, e.operation, e.apiVersion, e.fieldsType]), [['kubectl-create', 'Update', 'v1', 'FieldsV1']]);
  assert.match(body.metadata.managedFields[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(body.metadata.managedFields[0]!.fieldsV1, {
    'f:data': { '.': {}, 'f:password': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:type': {},
  });
  assert.ok(!created.body.includes('hunter2') || created.body.split('hunter2').length === 1, 'no plaintext value');
  assert.ok(!JSON.stringify(body.metadata.managedFields).includes(b64('hunter2-value')), 'managedFields hold no value');
  const labelled = await call(api.app, 'PATCH', `${ns}/secrets/recorded?fieldManager=kubectl-label`, { metadata: { labels: { tier: 'db' } } }, undefined, 'application/merge-patch+json');
  assert.equal(labelled.status, 200, JSON.stringify(labelled.body));
  assert.deepEqual(entryOf(labelled, 'kubectl-label', 'Update')?.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:tier': {} } } });
  // A change of a field another manager set moves it to the writer.
  const edited = await call(api.app, 'PATCH', `${ns}/secrets/recorded?fieldManager=kubectl-edit`, { data: { password: b64('other-value') } }, undefined, 'application/merge-patch+json');
  assert.deepEqual(entryOf(edited, 'kubectl-edit', 'Update')?.fieldsV1, { 'f:data': { 'f:password': {} } });
  assert.deepEqual(entryOf(edited, 'kubectl-create', 'Update')?.fieldsV1, { 'f:data': {}, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:type': {} });
  // Read back: stored with the object.
  const read = await call(api.app, 'GET', `${ns}/secrets/recorded`);
  assert.deepEqual(managed(read), managed(edited));
});

test('apply creates the object (201), owning exactly the applied fields; stringData is owned as data keys', async () => {
  const config = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'applied', labels: { app: 'api' } }, stringData: { token: 'first-token' } };
  const created = await apply(`${ns}/secrets/applied`, config, 'fieldManager=deployer');
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.data?.token, b64('first-token'));
  assert.deepEqual(managed(created).map((e) => [e.manager, e.operation]), [['deployer', 'Apply']]);
  assert.deepEqual(entryOf(created, 'deployer')?.fieldsV1, { 'f:data': { 'f:token': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } });
});

test('applying the same configuration again (YAML this time) changes nothing: same resourceVersion, same managedFields', async () => {
  const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' }, data: { a: '1' } };
  const first = await apply(`${ns}/configmaps/twice`, config, 'fieldManager=deployer');
  assert.equal(first.status, 201);
  const before = await storeFingerprint(api);
  const second = await apply(`${ns}/configmaps/twice`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  a: "1"\n`, 'fieldManager=deployer');
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
  assert.deepEqual(managed(second), managed(first));
  assert.equal(await storeFingerprint(api), before);
});

test('a field the manager no longer applies is removed, unless another manager owns it too', async () => {
  const path = `${ns}/configmaps/pruned`;
  const cm = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pruned' }, data });
  assert.equal((await apply(path, cm({ keep: 'k', drop: 'd', shared: 's' }), 'fieldManager=first')).status, 201);
  // A second manager applies the same value of `shared`: no conflict, both own it.
  const other = await apply(path, cm({ shared: 's' }), 'fieldManager=second');
  assert.equal(other.status, 200, JSON.stringify(other.body));
  const pruned = await apply(path, cm({ keep: 'k' }), 'fieldManager=first');
  assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
  assert.deepEqual(pruned.body.data, { keep: 'k', shared: 's' });
  assert.deepEqual(entryOf(pruned, 'first')?.fieldsV1, { 'f:data': { 'f:keep': {} } });
  assert.deepEqual(entryOf(pruned, 'second')?.fieldsV1, { 'f:data': { 'f:shared': {} } });
});

test('a prune keeps what other managers own below a node the applier owned: kubectl\'s move from client-side apply, an empty roleRef applied once', async () => {
  const path = `${ns}/secrets/migrated`;
  // kubectl apply (client-side) creates; kubectl label adds a label.
  const created = await call(api.app, 'POST', `${ns}/secrets?fieldManager=kubectl-client-side-apply`, {
    metadata: { name: 'migrated', labels: { app: 'web' }, annotations: { owner: 'ops' } }, data: { password: b64('s3cret'), user: b64('admin') },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await call(api.app, 'PATCH', `${path}?fieldManager=kubectl-label`, { metadata: { labels: { extra: 'kept' } } }, undefined, 'application/merge-patch+json')).status, 200);
  // kubectl apply --server-side moves the client-side applier's fields, nodes (".") included, to its own Apply entry.
  const entries = managed(created).map((e) => (e.manager === 'kubectl-client-side-apply' ? { ...e, manager: 'kubectl', operation: 'Apply' } : e));
  const read = await call(api.app, 'GET', path);
  const moved = [...managed(read).filter((e) => e.manager === 'kubectl-label'), ...entries];
  assert.deepEqual(moved.find((e) => e.manager === 'kubectl')?.fieldsV1['f:data'], { '.': {}, 'f:password': {}, 'f:user': {} });
  const patched = await call(api.app, 'PATCH', path, [{ op: 'replace', path: '/metadata/managedFields', value: moved }], undefined, 'application/json-patch+json');
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const config = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'migrated', labels: { app: 'web' }, annotations: { owner: 'ops' } }, stringData: { password: 's3cret', user: 'admin' } };
  const applied = await apply(path, config, 'fieldManager=kubectl');
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.deepEqual(applied.body.data, { password: b64('s3cret'), user: b64('admin') });
  assert.deepEqual(applied.body.metadata.labels, { app: 'web', extra: 'kept' });
  assert.deepEqual(applied.body.metadata.annotations, { owner: 'ops' });
  // Stopping applying them all: kubectl's fields go, the label kubectl label set stays.
  const stopped = await apply(path, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'migrated' } }, 'fieldManager=kubectl');
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  assert.equal(stopped.body.data, undefined);
  assert.deepEqual(stopped.body.metadata.labels, { extra: 'kept' });
  assert.equal(stopped.body.metadata.annotations, undefined);

  const binding = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/kept-ref';
  const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' };
  const rb = (body: Record<string, unknown>) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kept-ref' }, ...body });
  assert.equal((await apply(binding, rb({ roleRef, subjects: [{ kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' }] }), 'fieldManager=rbac-tool')).status, 201);
  assert.equal((await apply(binding, rb({ roleRef: {} }), 'fieldManager=tool')).status, 200);
  const dropped = await apply(binding, rb({}), 'fieldManager=tool');
  assert.equal(dropped.status, 200, JSON.stringify(dropped.body));
  assert.deepEqual(dropped.body.roleRef, roleRef);
});

test('a conflict is 409 naming each field and its manager; force=true takes the field over', async () => {
  const path = `${ns}/configmaps/contested`;
  const created = await call(api.app, 'POST', `${ns}/configmaps?fieldManager=kubectl-create`, { metadata: { name: 'contested' }, data: { key: 'one', other: 'x' } });
  assert.equal(created.status, 201);
  const before = await storeFingerprint(api);
  const refused = await apply(path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contested' }, data: { key: 'two' } }, 'fieldManager=mine');
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.reason, 'Conflict');
  assert.equal(refused.body.message, 'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.key');
  assert.deepEqual(refused.body.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-create" using v1', field: '.data.key' }]);
  assert.equal(await storeFingerprint(api), before, 'a conflict changes nothing');
  const two = await apply(path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contested' }, data: { key: 'two', other: 'y' } }, 'fieldManager=mine');
  assert.equal(two.status, 409);
  assert.match(two.body.message, /^Apply failed with 2 conflicts: conflicts with "kubectl-create" using v1:\n- \.data\.key\n- \.data\.other$/);
  const forced = await apply(path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contested' }, data: { key: 'two' } }, 'fieldManager=mine&force=true');
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.deepEqual(forced.body.data, { key: 'two', other: 'x' });
  assert.deepEqual(entryOf(forced, 'mine')?.fieldsV1, { 'f:data': { 'f:key': {} } });
  assert.deepEqual(entryOf(forced, 'kubectl-create', 'Update')?.fieldsV1, { 'f:data': { '.': {}, 'f:other': {} } });
  // The manager kept its other field, so the object still names it.
  assert.ok(managed(forced).some((e) => e.manager === 'kubectl-create'));
});

test('an apply to an object with no managedFields treats its fields as owned by before-first-apply', async () => {
  const created = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'legacy', managedFields: [{}] }, data: { a: '1' } });
  assert.equal(created.status, 201);
  assert.deepEqual(managed(created), [], 'a single empty entry clears managedFields');
  const refused = await apply(`${ns}/configmaps/legacy`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'legacy' }, data: { a: '2' } }, 'fieldManager=new');
  assert.equal(refused.status, 409);
  assert.match(refused.body.message, /conflict with "before-first-apply" using v1: \.data\.a/);
});

test('dryRun=All: an apply that would create or change answers as if done and stores nothing', async () => {
  const before = await storeFingerprint(api);
  const created = await apply(`${ns}/configmaps/dry`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' }, data: { a: '1' } }, 'fieldManager=m&dryRun=All');
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.data?.a, '1');
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/dry`)).status, 404);
  const changed = await apply(`${ns}/configmaps/twice`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' }, data: { a: '9' } }, 'fieldManager=deployer&dryRun=All');
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.equal(changed.body.data?.a, '9');
  assert.equal(await storeFingerprint(api), before);
});

test('options and bodies Kubernetes refuses are refused, and change nothing', async () => {
  const before = await storeFingerprint(api);
  const path = `${ns}/configmaps/twice`;
  const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' }, data: { a: '1' } };
  const cases: Array<[Promise<Reply>, number, RegExp]> = [
    [apply(path, config, ''), 422, /^PatchOptions\.meta\.k8s\.io "" is invalid: fieldManager: Required value: is required for apply patch$/],
    [apply(path, config, `fieldManager=${'m'.repeat(129)}`), 422, /fieldManager: Too long: may not be more than 128 characters/],
    [apply(path, config, 'fieldManager=bad%E2%80%8Bname'), 422, /fieldManager: Invalid value: invalid character at position 3/],
    [apply(path, config, 'fieldManager=m&force=maybe'), 422, /force: Invalid value/],
    [call(api.app, 'PATCH', `${path}?force=true`, { data: { a: '2' } }, undefined, 'application/merge-patch+json'), 422, /force: Forbidden: may not be specified for non-apply patch/],
    [apply(path, { kind: 'ConfigMap', metadata: { name: 'twice' } }, 'fieldManager=m'), 400, /must set apiVersion \(v1\) and kind \(ConfigMap\)/],
    [apply(path, { ...config, metadata: { name: 'other' } }, 'fieldManager=m'), 400, /does not match the name on the URL/],
    [apply(path, { ...config, metadata: { name: 'twice', managedFields: [{ manager: 'x' }] } }, 'fieldManager=m'), 400, /metadata\.managedFields must be nil/],
    [apply(path, 'data: [unclosed secret-ish-text\n', 'fieldManager=m'), 400, /^the applied configuration cannot be read: it is not valid YAML or JSON \(line \d+\)$/],
    [apply(path, 'a: 1\n---\nb: 2\n', 'fieldManager=m'), 400, /more than one document/],
    [apply(path, 'a: &x [1]\nb: [*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x,*x]\n', 'fieldManager=m'), 400, /aliases/],
    [apply(path, { ...config, data: { a: 1 } }, 'fieldManager=m&force=true'), 422, /data\[a\]: must be a string/],
  ];
  for (const [reply, code, message] of cases) {
    const answered = await reply;
    assert.equal(answered.status, code, JSON.stringify(answered.body));
    assert.match(answered.body.message, message);
  }
  assert.equal(await storeFingerprint(api), before);
});

test('apply is authorized as patch, and as create too when the object is absent', async () => {
  const role = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'cm-patcher' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['patch', 'get'] }],
  });
  assert.equal(role.status, 201, JSON.stringify(role.body));
  await bindClusterRole(api.app, 'cm-patcher-paula', 'cm-patcher', 'paula');
  const paula = asUser('paula');
  const absent = await apply(`${ns}/configmaps/paulas`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'paulas' }, data: { a: '1' } }, 'fieldManager=paula', paula);
  assert.equal(absent.status, 403, JSON.stringify(absent.body));
  assert.equal(absent.body.message, 'configmaps "paulas" is forbidden: User "paula" cannot create resource "configmaps" in API group "" in the namespace "default"');
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/paulas`)).status, 404);
  const present = await apply(`${ns}/configmaps/twice`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' }, data: { b: '2' } }, 'fieldManager=paula', paula);
  assert.equal(present.status, 200, JSON.stringify(present.body));
  const nobody = await apply(`${ns}/configmaps/twice`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twice' } }, 'fieldManager=x', asUser('nobody'));
  assert.equal(nobody.status, 403);
});

test('RBAC objects: rules and subjects are atomic lists, roleRef a struct', async () => {
  const path = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/applied-role';
  const role = (verbs: string[]) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'applied-role' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }] });
  const created = await apply(path, role(['get']), 'fieldManager=rbac-tool');
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(entryOf(created, 'rbac-tool')?.fieldsV1, { 'f:rules': {} });
  const conflict = await apply(path, role(['list']), 'fieldManager=other-tool');
  assert.equal(conflict.status, 409);
  assert.match(conflict.body.message, /conflict with "rbac-tool": \.rules$/);
  const binding = await apply('/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/applied-binding', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'applied-binding' },
    subjects: [{ kind: 'User', name: 'someone', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'applied-role' },
  }, 'fieldManager=rbac-tool');
  assert.equal(binding.status, 201, JSON.stringify(binding.body));
  assert.deepEqual(entryOf(binding, 'rbac-tool')?.fieldsV1, { 'f:roleRef': { 'f:apiGroup': {}, 'f:kind': {}, 'f:name': {} }, 'f:subjects': {} });
});

test('finalizers are a set: two managers each apply their own', async () => {
  const path = `${ns}/configmaps/finalized`;
  const cm = (finalizers: string[]) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'finalized', finalizers } });
  assert.equal((await apply(path, cm(['example.com/a']), 'fieldManager=a')).status, 201);
  const both = await apply(path, cm(['example.com/b']), 'fieldManager=b');
  assert.equal(both.status, 200, JSON.stringify(both.body));
  assert.deepEqual(both.body.metadata.finalizers, ['example.com/a', 'example.com/b']);
  assert.deepEqual(entryOf(both, 'b')?.fieldsV1, { 'f:metadata': { 'f:finalizers': { 'v:"example.com/b"': {} } } });
  const dropped = await apply(path, cm([]), 'fieldManager=a');
  assert.deepEqual(dropped.body.metadata.finalizers, ['example.com/b']);
});

test('one apply manager more than managedFieldsApplyManagersMax is refused (422) and changes nothing', async () => {
  const path = `${ns}/configmaps/crowded`;
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'crowded' }, data: { shared: 'same' } };
  for (let i = 0; i < managedFieldsApplyManagersMax; i += 1) {
    const applied = await apply(path, cm, `fieldManager=m${i}`);
    assert.ok(applied.status === 200 || applied.status === 201, JSON.stringify(applied.body));
  }
  const before = await storeFingerprint(api);
  const refused = await apply(path, cm, 'fieldManager=one-too-many');
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.match(refused.body.message, new RegExp(`metadata\\.managedFields: Too many: "one-too-many" would be apply manager ${managedFieldsApplyManagersMax + 1}`));
  assert.equal(await storeFingerprint(api), before);
  assert.equal((await apply(path, cm, 'fieldManager=m0')).status, 200, 'a manager already applying still may');
});
