// An object's life as Kubernetes clients expect it, through app.inject() over a real single-member
// replica: generateName, finalizers holding a delete (of an object and of a namespace), owner references
// kept, writes that change nothing writing nothing, and a Secret's type fixed for life.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { configMaps, Registry, secrets } from '../../../src/registry/index.ts';
import { asUser, bindClusterRole, call, configMap, secret, startApi, type Api, type Reply } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const ns = '/api/v1/namespaces/default';
const mergePatch = 'application/merge-patch+json';
const revision = (): number => api.backend.mvcc().currentRevision();
const phaseOf = (reply: Reply): string | undefined => (typeof reply.body.status === 'object' ? reply.body.status.phase : undefined);

function assertRefused(reply: Reply, code: number, reason: string, message: RegExp): void {
  assert.equal(reply.status, code, JSON.stringify(reply.body));
  assert.equal(reply.body.reason, reason);
  assert.match(reply.body.message, message);
}

test('generateName: the member names the object from the prefix, and keeps the prefix', async () => {
  const names = new Set<string>();
  for (let i = 0; i < 5; i += 1) {
    const created = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { generateName: 'job-' }, data: { a: '1' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.metadata.name, /^job-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(created.body.metadata.generateName, 'job-');
    names.add(created.body.metadata.name);
  }
  assert.equal(names.size, 5);
  const bad = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { generateName: 'Upper_' } });
  assertRefused(bad, 422, 'Invalid', /metadata\.generateName/);
  const none = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: {} });
  assertRefused(none, 422, 'Invalid', /name or generateName is required/);
});

test('finalizers and ownerReferences are kept; bad ones are refused', async () => {
  const owner = await call(api.app, 'POST', `${ns}/configmaps`, configMap('owner'));
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.body.metadata.uid, controller: true, blockOwnerDeletion: true };
  const created = await call(api.app, 'POST', `${ns}/secrets`, secret('owned', { k: 'v' }, { metadata: { name: 'owned', finalizers: ['example.com/hold'], ownerReferences: [ref] } }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const got = await call(api.app, 'GET', `${ns}/secrets/owned`);
  assert.deepEqual(got.body.metadata.finalizers, ['example.com/hold']);
  assert.deepEqual(got.body.metadata.ownerReferences, [ref]);
  const badRef = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'badref', ownerReferences: [{ kind: 'ConfigMap', name: 'owner' }] } });
  assertRefused(badRef, 422, 'Invalid', /ownerReferences\[0\]\.apiVersion/);
  const twoControllers = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'two', ownerReferences: [ref, { ...ref, name: 'other' }] } });
  assertRefused(twoControllers, 422, 'Invalid', /only one reference can have Controller set to true/);
  const badFinalizer = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'badfin', finalizers: ['not a name'] } });
  assertRefused(badFinalizer, 422, 'Invalid', /metadata\.finalizers\[0\]/);
  await call(api.app, 'PATCH', `${ns}/secrets/owned`, { metadata: { finalizers: null } }, undefined, mergePatch);
  assert.equal((await call(api.app, 'DELETE', `${ns}/secrets/owned`)).status, 200);
});

test('a delete held by a finalizer marks the object (202) and it goes with its last finalizer', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'held', finalizers: ['example.com/a', 'example.com/b'] }, data: { a: '1' } });
  const deleting = await call(api.app, 'DELETE', `${ns}/configmaps/held`);
  assert.equal(deleting.status, 202, JSON.stringify(deleting.body));
  assert.match(deleting.body.metadata.deletionTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(deleting.body.metadata.deletionGracePeriodSeconds, 0);
  const again = await call(api.app, 'DELETE', `${ns}/configmaps/held`);
  assert.equal(again.status, 202);
  assert.equal(again.body.metadata.deletionTimestamp, deleting.body.metadata.deletionTimestamp, 'a second delete changes nothing');
  assert.equal(again.body.metadata.resourceVersion, deleting.body.metadata.resourceVersion);

  const adding = await call(api.app, 'PATCH', `${ns}/configmaps/held`, { metadata: { finalizers: ['example.com/a', 'example.com/b', 'example.com/c'] } }, undefined, mergePatch);
  assertRefused(adding, 422, 'Invalid', /no new finalizers can be added if the object is being deleted/);
  const edited = await call(api.app, 'PATCH', `${ns}/configmaps/held`, { data: { a: '2' }, metadata: { finalizers: ['example.com/b'] } }, undefined, mergePatch);
  assert.equal(edited.status, 200);
  assert.equal(edited.body.metadata.deletionTimestamp, deleting.body.metadata.deletionTimestamp, 'still marked');
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/held`)).body.data?.a, '2');

  const last = await call(api.app, 'PATCH', `${ns}/configmaps/held`, { metadata: { finalizers: null } }, undefined, mergePatch);
  assert.equal(last.status, 200, JSON.stringify(last.body));
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/held`)).status, 404);
});

test('a dry-run delete of a held object marks nothing', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'held-dry', finalizers: ['example.com/a'] } });
  const before = revision();
  const dry = await call(api.app, 'DELETE', `${ns}/configmaps/held-dry?dryRun=All`);
  assert.equal(dry.status, 202);
  assert.equal(typeof dry.body.metadata.deletionTimestamp, 'string');
  assert.equal(revision(), before);
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/held-dry`)).body.metadata.deletionTimestamp, undefined);
});

test('a namespace waits on the finalizers inside it: Terminating, no new content, gone with the last finalizer', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'ending' } });
  await call(api.app, 'POST', '/api/v1/namespaces/ending/configmaps', { metadata: { name: 'keeper', finalizers: ['example.com/keep'] } });
  for (let i = 0; i < 45; i += 1) await call(api.app, 'POST', '/api/v1/namespaces/ending/secrets', secret(`s${i}`));

  const deleting = await call(api.app, 'DELETE', '/api/v1/namespaces/ending');
  assert.equal(deleting.status, 202, JSON.stringify(deleting.body));
  assert.equal(phaseOf(deleting), 'Terminating');
  assert.equal(phaseOf(await call(api.app, 'GET', '/api/v1/namespaces/ending')), 'Terminating');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/ending/secrets')).body.items.length, 0, 'what no finalizer holds is gone');
  const keeper = await call(api.app, 'GET', '/api/v1/namespaces/ending/configmaps/keeper');
  assert.equal(typeof keeper.body.metadata.deletionTimestamp, 'string', 'what a finalizer holds is marked');
  assertRefused(await call(api.app, 'POST', '/api/v1/namespaces/ending/configmaps', configMap('late')), 403, 'Forbidden',
    /unable to create new content in namespace ending because it is being terminated/);

  await call(api.app, 'PATCH', '/api/v1/namespaces/ending/configmaps/keeper', { metadata: { finalizers: null } }, undefined, mergePatch);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/ending')).status, 404, 'the namespace went with the last finalizer in it');
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/ending/configmaps/keeper')).status, 404);
});

test('a namespace with finalizers of its own stays Terminating until they are removed', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'self-held', finalizers: ['example.com/ns'] } });
  await call(api.app, 'POST', '/api/v1/namespaces/self-held/configmaps', configMap('c'));
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/self-held')).status, 202);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/self-held/configmaps')).body.items.length, 0);
  assert.equal(phaseOf(await call(api.app, 'GET', '/api/v1/namespaces/self-held')), 'Terminating');
  await call(api.app, 'PATCH', '/api/v1/namespaces/self-held', { metadata: { finalizers: null } }, undefined, mergePatch);
  assert.equal((await call(api.app, 'GET', '/api/v1/namespaces/self-held')).status, 404);
});

test('writes that change nothing write nothing: same resourceVersion, no revision, no new Secret version', async () => {
  const created = await call(api.app, 'POST', `${ns}/secrets`, { metadata: { name: 'still', labels: { app: 'a' } }, stringData: { pw: 'same' } });
  const rv = created.body.metadata.resourceVersion;
  const before = revision();
  const samePatch = await call(api.app, 'PATCH', `${ns}/secrets/still`, { metadata: { labels: { app: 'a' } } }, undefined, mergePatch);
  assert.equal(samePatch.body.metadata.resourceVersion, rv);
  const reapplied = await call(api.app, 'PUT', `${ns}/secrets/still`, { metadata: { name: 'still', labels: { app: 'a' } }, stringData: { pw: 'same' } });
  assert.equal(reapplied.status, 200);
  assert.equal(reapplied.body.metadata.resourceVersion, rv);
  const emptyPatch = await call(api.app, 'PATCH', `${ns}/secrets/still`, {}, undefined, mergePatch);
  assert.equal(emptyPatch.body.metadata.resourceVersion, rv);
  assert.equal(revision(), before, 'nothing was written');
  const versions = await call(api.app, 'GET', '/apis/coffer.dev/v1/namespaces/default/secrets/still/versions');
  assert.equal(versions.body.items?.length, 1, JSON.stringify(versions.body));
  const changed = await call(api.app, 'PATCH', `${ns}/secrets/still`, { metadata: { labels: { app: 'b' } } }, undefined, mergePatch);
  assert.ok(Number(changed.body.metadata.resourceVersion) > Number(rv), 'a real change still writes');
});

test("a Secret's type is immutable, whatever the new type is", async () => {
  await call(api.app, 'POST', `${ns}/secrets`, secret('typed'));
  for (const type of ['kubernetes.io/tls', 'kubernetes.io/basic-auth', 'example.com/custom']) {
    const before = revision();
    const changed = await call(api.app, 'PATCH', `${ns}/secrets/typed`, { type }, undefined, mergePatch);
    assertRefused(changed, 422, 'Invalid', /type: Invalid value: .*field is immutable/);
    assert.equal(revision(), before);
  }
});

test('deletecollection deletes what the selectors match, marks what finalizers hold, and answers with the list', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'sweep' } });
  const base = '/api/v1/namespaces/sweep/configmaps';
  for (const [name, tier] of [['a', 'web'], ['b', 'web'], ['c', 'db']] as const) await call(api.app, 'POST', base, configMap(name, { k: 'v' }, { tier }));
  await call(api.app, 'POST', base, { metadata: { name: 'held', labels: { tier: 'web' }, finalizers: ['example.com/keep'] } });

  const before = revision();
  const dry = await call(api.app, 'DELETE', `${base}?labelSelector=tier%3Dweb&dryRun=All`);
  assert.equal(dry.status, 200, JSON.stringify(dry.body));
  assert.equal(revision(), before, 'a dry run deletes nothing');

  const swept = await call(api.app, 'DELETE', `${base}?labelSelector=tier%3Dweb`);
  assert.equal(swept.status, 200, JSON.stringify(swept.body));
  assert.equal(swept.body.kind, 'ConfigMapList');
  assert.deepEqual(swept.body.items.map((i) => i.metadata.name).sort(), ['a', 'b', 'held']);
  const left = await call(api.app, 'GET', base);
  assert.deepEqual(left.body.items.map((i) => [i.metadata.name, i.metadata.deletionTimestamp !== undefined]), [['c', false], ['held', true]]);

  const rbac = await call(api.app, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/sweep/roles?labelSelector=none%3Dhere');
  assert.equal(rbac.status, 200);
  assert.deepEqual(rbac.body.items, []);
  assertRefused(await call(api.app, 'DELETE', '/api/v1/namespaces'), 405, 'MethodNotAllowed', /namespaces one by one/);
});

test('a field selector on a Secret type lists, watches and deletes only that type', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'typed-sel' } });
  const base = '/api/v1/namespaces/typed-sel/secrets';
  await call(api.app, 'POST', base, secret('plain'));
  await call(api.app, 'POST', base, { metadata: { name: 'login' }, type: 'kubernetes.io/basic-auth', stringData: { username: 'u', password: 'p' } });
  const basic = await call(api.app, 'GET', `${base}?fieldSelector=type%3Dkubernetes.io%2Fbasic-auth`);
  assert.deepEqual(basic.body.items.map((i) => i.metadata.name), ['login']);
  const notOpaque = await call(api.app, 'GET', `${base}?fieldSelector=type!%3DOpaque`);
  assert.deepEqual(notOpaque.body.items.map((i) => i.metadata.name), ['login']);
  const onConfigMaps = await call(api.app, 'GET', '/api/v1/namespaces/typed-sel/configmaps?fieldSelector=type%3DOpaque');
  assertRefused(onConfigMaps, 400, 'BadRequest', /field label not supported: "type"/);
  const swept = await call(api.app, 'DELETE', `${base}?fieldSelector=type%3DOpaque`);
  assert.deepEqual(swept.body.items.map((i) => i.metadata.name), ['plain']);
  assert.deepEqual((await call(api.app, 'GET', base)).body.items.map((i) => i.metadata.name), ['login']);
});

/** Makes an owner ConfigMap and dependents that name it; returns the owner's reference. */
async function ownerWithDependents(namespace: string, owner: string, dependents: string[], extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const created = await call(api.app, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, configMap(owner));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: owner, uid: created.body.metadata.uid, ...extra };
  for (const name of dependents) {
    const dependent = await call(api.app, 'POST', `/api/v1/namespaces/${namespace}/secrets`, { metadata: { name, ownerReferences: [ref] }, stringData: { k: 'v' } });
    assert.equal(dependent.status, 201, JSON.stringify(dependent.body));
  }
  return ref;
}

const exists = async (url: string): Promise<boolean> => (await call(api.app, 'GET', url)).status === 200;

test('propagationPolicy Background (the default) deletes the dependents, and theirs, after the owner', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-bg' } });
  await ownerWithDependents('gc-bg', 'owner', ['dep-a', 'dep-b']);
  const depA = await call(api.app, 'GET', '/api/v1/namespaces/gc-bg/secrets/dep-a');
  // A grandchild owned by a dependent goes too.
  await call(api.app, 'POST', '/api/v1/namespaces/gc-bg/configmaps', { metadata: { name: 'grandchild', ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: 'dep-a', uid: depA.body.metadata.uid }] } });
  const unrelated = await call(api.app, 'POST', '/api/v1/namespaces/gc-bg/configmaps', configMap('unrelated'));
  assert.equal(unrelated.status, 201);
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-bg/configmaps/owner')).status, 200);
  for (const url of ['configmaps/owner', 'secrets/dep-a', 'secrets/dep-b', 'configmaps/grandchild']) {
    assert.equal(await exists(`/api/v1/namespaces/gc-bg/${url}`), false, `${url} is gone`);
  }
  assert.equal(await exists('/api/v1/namespaces/gc-bg/configmaps/unrelated'), true);
});

test('a dependent with another live owner keeps living, without the reference to the deleted one', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-two' } });
  const first = await ownerWithDependents('gc-two', 'first', []);
  const second = await ownerWithDependents('gc-two', 'second', []);
  await call(api.app, 'POST', '/api/v1/namespaces/gc-two/secrets', { metadata: { name: 'shared', ownerReferences: [first, second] }, stringData: { k: 'v' } });
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-two/configmaps/first')).status, 200);
  const shared = await call(api.app, 'GET', '/api/v1/namespaces/gc-two/secrets/shared');
  assert.equal(shared.status, 200);
  assert.deepEqual(shared.body.metadata.ownerReferences, [second]);
});

test('propagationPolicy Orphan keeps the dependents and removes their reference to the owner', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-orphan' } });
  await ownerWithDependents('gc-orphan', 'owner', ['dep']);
  const deleted = await call(api.app, 'DELETE', '/api/v1/namespaces/gc-orphan/configmaps/owner', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  const dep = await call(api.app, 'GET', '/api/v1/namespaces/gc-orphan/secrets/dep');
  assert.equal(dep.status, 200);
  assert.equal(dep.body.metadata.ownerReferences, undefined);
  // The older form, as a query parameter.
  await ownerWithDependents('gc-orphan', 'owner2', ['dep2']);
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-orphan/configmaps/owner2?orphanDependents=true')).status, 200);
  assert.equal(await exists('/api/v1/namespaces/gc-orphan/secrets/dep2'), true);
});

test('propagationPolicy Foreground deletes the dependents first; a dependent held by a finalizer holds the owner until it goes', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-fg' } });
  await ownerWithDependents('gc-fg', 'owner', ['dep'], { blockOwnerDeletion: true });
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-fg/configmaps/owner?propagationPolicy=Foreground')).status, 200);
  assert.equal(await exists('/api/v1/namespaces/gc-fg/configmaps/owner'), false);
  assert.equal(await exists('/api/v1/namespaces/gc-fg/secrets/dep'), false);

  const ref = await ownerWithDependents('gc-fg', 'waiting', [], { blockOwnerDeletion: true });
  await call(api.app, 'POST', '/api/v1/namespaces/gc-fg/configmaps', { metadata: { name: 'slow', finalizers: ['example.com/slow'], ownerReferences: [ref] } });
  const held = await call(api.app, 'DELETE', '/api/v1/namespaces/gc-fg/configmaps/waiting', { propagationPolicy: 'Foreground' });
  assert.equal(held.status, 202, JSON.stringify(held.body));
  assert.deepEqual(held.body.metadata.finalizers, ['foregroundDeletion']);
  assert.equal(typeof (await call(api.app, 'GET', '/api/v1/namespaces/gc-fg/configmaps/slow')).body.metadata.deletionTimestamp, 'string');
  await call(api.app, 'PATCH', '/api/v1/namespaces/gc-fg/configmaps/slow', { metadata: { finalizers: null } }, undefined, mergePatch);
  assert.equal(await exists('/api/v1/namespaces/gc-fg/configmaps/slow'), false);
  assert.equal(await exists('/api/v1/namespaces/gc-fg/configmaps/waiting'), false, 'the owner went with its last dependent');
});

test('a bad propagationPolicy is refused and deletes nothing', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('kept-owner'));
  const before = revision();
  assertRefused(await call(api.app, 'DELETE', `${ns}/configmaps/kept-owner?propagationPolicy=Sometimes`), 400, 'BadRequest', /propagationPolicy "Sometimes" is not supported/);
  assertRefused(await call(api.app, 'DELETE', `${ns}/configmaps/kept-owner`, { propagationPolicy: 'Orphan', orphanDependents: false }), 400, 'BadRequest', /may not both be set/);
  assert.equal(revision(), before);
});

test('an owner reference uid that could not be an index path segment is refused', async () => {
  const bad = await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'slash-uid', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'a/b' }] } });
  assertRefused(bad, 422, 'Invalid', /ownerReferences\[0\]\.uid/);
});

test('the owner index holds no entry for an object that is gone, whether deleted alone, collected or emptied with its namespace', async () => {
  const indexed = async (uid: string): Promise<number> => {
    const prefix = Buffer.from(`/registry/coffer.dev/owners/${uid}/`);
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    return (await api.backend.range(prefix, end, { linearizable: true, countOnly: true })).count;
  };
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-index' } });
  const ref = await ownerWithDependents('gc-index', 'owner', ['a', 'b', 'c']);
  const uid = ref.uid as string;
  assert.equal(await indexed(uid), 3);
  await call(api.app, 'DELETE', '/api/v1/namespaces/gc-index/secrets/a');
  assert.equal(await indexed(uid), 2, 'a dependent deleted alone takes its entry');
  await call(api.app, 'PATCH', '/api/v1/namespaces/gc-index/secrets/b', { metadata: { ownerReferences: null } }, undefined, mergePatch);
  assert.equal(await indexed(uid), 1, 'a reference removed by an update takes its entry');
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-index')).status, 200);
  assert.equal(await indexed(uid), 0, 'the namespace took the rest');
});

test('a cascade deletes only what the caller may delete: making a Secret the dependent of a ConfigMap one may delete is no way to delete it', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'gc-attack' } });
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'gc-attacker' }, rules: [
    { verbs: ['patch', 'update'], apiGroups: [''], resources: ['secrets'] },
    // update: naming the ConfigMap as an owner needs it (the test below).
    { verbs: ['create', 'get', 'delete', 'update'], apiGroups: [''], resources: ['configmaps'] },
  ] });
  await bindClusterRole(api.app, 'gc-attacker-binding', 'gc-attacker', 'mallory');
  const mallory = asUser('mallory');
  await call(api.app, 'POST', '/api/v1/namespaces/gc-attack/secrets', secret('victim'));
  const bait = await call(api.app, 'POST', '/api/v1/namespaces/gc-attack/configmaps', configMap('bait'), mallory);
  assert.equal(bait.status, 201, JSON.stringify(bait.body));
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'bait', uid: bait.body.metadata.uid };
  const patched = await call(api.app, 'PATCH', '/api/v1/namespaces/gc-attack/secrets/victim', { metadata: { ownerReferences: [ref] } }, mallory, mergePatch);
  assert.equal(patched.status, 200, JSON.stringify(patched.body));

  const before = revision();
  for (const policy of ['', '?propagationPolicy=Background', '?propagationPolicy=Foreground']) {
    const refused = await call(api.app, 'DELETE', `/api/v1/namespaces/gc-attack/configmaps/bait${policy}`, undefined, mallory);
    // mallory may not read the Secret: the refusal does not name it (blind-callers.test.ts).
    assertRefused(refused, 403, 'Forbidden', /would delete a dependent you may not delete \(one you may not read is not named\)/);
  }
  assert.equal(revision(), before, 'nothing was deleted or marked');
  assert.equal(await exists('/api/v1/namespaces/gc-attack/secrets/victim'), true);
  // Orphaning deletes nothing but the owner.
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/gc-attack/configmaps/bait?propagationPolicy=Orphan', undefined, mallory)).status, 200);
  assert.equal(await exists('/api/v1/namespaces/gc-attack/secrets/victim'), true);
});

test('a cascade asks the right again as it reaches each dependent: one it may no longer delete is released, not deleted (Background and Foreground)', async () => {
  // The race the upfront check alone lost: after the check, a Secret the caller may not delete was made a
  // dependent (or the caller lost the right), and the cascade deleted it. Here the right to delete the
  // Secret is there for the check and gone when the cascade reaches it.
  const registry = new Registry(api.backend);
  for (const policy of ['Background', 'Foreground'] as const) {
    const namespace = `gc-race-${policy.toLowerCase()}`;
    await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: namespace } });
    const owner = (await call(api.app, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, configMap('owner'))).body;
    const middleRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid };
    const middle = (await call(api.app, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, { ...configMap('middle'), metadata: { name: 'middle', ownerReferences: [middleRef] } })).body;
    const victimRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'middle', uid: middle.metadata.uid };
    assert.equal((await call(api.app, 'POST', `/api/v1/namespaces/${namespace}/secrets`, secret('victim', { password: 's3cret' }, { metadata: { name: 'victim', ownerReferences: [victimRef] } }))).status, 201);
    let asked = 0;
    const mayDelete = (type: typeof secrets, _namespace: string | undefined, name: string): boolean => type !== secrets || name !== 'victim' || asked++ === 0;
    await registry.delete(configMaps, namespace, 'owner', { propagationPolicy: policy, mayDelete });
    assert.ok(asked >= 2, `the right to delete the Secret was asked at the check and again at the cascade (${asked})`);
    assert.equal(await exists(`/api/v1/namespaces/${namespace}/configmaps/middle`), false, 'the dependent the caller may delete went');
    const victim = await call(api.app, 'GET', `/api/v1/namespaces/${namespace}/secrets/victim`);
    assert.equal(victim.status, 200, `${policy}: the Secret the caller may no longer delete stays`);
    assert.deepEqual(victim.body.metadata.ownerReferences ?? [], [], 'released from its deleted owner');
  }
});

/** A Role in `namespace` with `rules`, bound to `user` there; both named `name`. */
async function grant(namespace: string, name: string, user: string, rules: unknown[]): Promise<void> {
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  const role = await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name }, rules });
  assert.equal(role.status, 201, JSON.stringify(role.body));
  const binding = await call(api.app, 'POST', `${rbac}/rolebindings`, {
    metadata: { name }, subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
  });
  assert.equal(binding.status, 201, JSON.stringify(binding.body));
}

/** Stores `object` and its owner index entries as a version before the scope rule could have (a raw write, as system:masters may). */
async function storeRaw(resource: string, namespace: string | undefined, object: Record<string, unknown> & { metadata: Record<string, unknown> & { name: string; ownerReferences?: { uid: string }[] } }): Promise<void> {
  const where = `${resource}/${namespace !== undefined ? `${namespace}/` : ''}${object.metadata.name}`;
  const text = new TextEncoder();
  await api.backend.propose({
    type: 'txn', compare: [], failure: [],
    success: [
      { type: 'put', key: text.encode(`/registry/${where}`), value: text.encode(JSON.stringify(object)) },
      ...(object.metadata.ownerReferences ?? []).map((r) => ({ type: 'put' as const, key: text.encode(`/registry/coffer.dev/owners/${r.uid}/${where}`), value: new Uint8Array(0) })),
    ],
  });
}

test('a reference from another namespace holds nothing: its pin blocks no delete (Background, Foreground, deletecollection), holds no Foreground wait, and Orphan leaves it alone', async () => {
  // pinner may create ConfigMaps in pin-a (and update its Secrets, so it may name one as an owner there) and
  // list Secrets in pin-b (the list is redacted, the uids are not); bob may delete and read Secrets in pin-b,
  // and nothing in pin-a.
  for (const name of ['pin-a', 'pin-b']) assert.equal((await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name } })).status, 201);
  await grant('pin-a', 'pinner', 'pinner', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list'] }, { apiGroups: [''], resources: ['secrets'], verbs: ['update'] }]);
  await grant('pin-b', 'pinner', 'pinner', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }]);
  await grant('pin-b', 'bob', 'bob', [{ apiGroups: [''], resources: ['secrets'], verbs: ['delete', 'deletecollection', 'get', 'list'] }]);
  const pinner = asUser('pinner');
  const bob = asUser('bob');
  const victims = ['db', 'db-fg', 'db-all', 'db-held', 'db-orphan'];
  for (const name of victims) assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/pin-b/secrets', secret(name))).status, 201);
  const listed = await call(api.app, 'GET', '/api/v1/namespaces/pin-b/secrets', undefined, pinner);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  const uidOf = (name: string): string => listed.body.items.find((i) => i.metadata.name === name)!.metadata.uid;
  for (const name of victims) {
    const ref = { apiVersion: 'v1', kind: 'Secret', name, uid: uidOf(name) };
    const pin = await call(api.app, 'POST', '/api/v1/namespaces/pin-a/configmaps', {
      metadata: { name: `pin-${name}`, ownerReferences: [ref], ...(name === 'db-held' ? { finalizers: ['example.com/hold'] } : {}) },
    }, pinner);
    // Accepted, as Kubernetes accepts it: whether that uid is some object's in another namespace is not the writer's to learn.
    assert.equal(pin.status, 201, JSON.stringify(pin.body));
  }

  const deleted = await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/db', undefined, bob);
  assert.equal(deleted.status, 200, `the default cascade: ${JSON.stringify(deleted.body)}`);
  const foreground = await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/db-fg', { propagationPolicy: 'Foreground' }, bob);
  assert.equal(foreground.status, 200, `Foreground: ${JSON.stringify(foreground.body)}`);
  const collection = await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets?fieldSelector=metadata.name%3Ddb-all', undefined, bob);
  assert.equal(collection.status, 200, `deletecollection: ${JSON.stringify(collection.body)}`);
  assert.deepEqual(collection.body.items.map((i) => i.metadata.name), ['db-all']);
  // A pin held by a finalizer held the owner of a Foreground delete (202) until the pinner let go.
  const held = await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/db-held?propagationPolicy=Foreground');
  assert.equal(held.status, 200, `Foreground, a held pin: ${JSON.stringify(held.body)}`);
  assert.equal(await exists('/api/v1/namespaces/pin-b/secrets/db-held'), false);
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/db-orphan?propagationPolicy=Orphan')).status, 200);
  for (const name of ['db', 'db-fg', 'db-all']) assert.equal(await exists(`/api/v1/namespaces/pin-b/secrets/${name}`), false, name);
  // The pins were never dependents: none was deleted, marked or released.
  for (const name of victims) {
    const pin = await call(api.app, 'GET', `/api/v1/namespaces/pin-a/configmaps/pin-${name}`);
    assert.equal(pin.status, 200, name);
    assert.equal(pin.body.metadata.deletionTimestamp, undefined, name);
    assert.deepEqual(pin.body.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Secret', name, uid: uidOf(name) }], name);
  }
  await call(api.app, 'PATCH', '/api/v1/namespaces/pin-a/configmaps/pin-db-held', { metadata: { finalizers: null } }, undefined, mergePatch);
});

test('a reference names its owner by uid, kind and name: one in the same namespace with the uid and another kind or name holds nothing; a real one still does', async () => {
  await grant('pin-b', 'bob-cascade', 'bob', [{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }]);
  const bob = asUser('bob');
  for (const name of ['same-kind', 'same-name', 'real']) {
    const owner = await call(api.app, 'POST', '/api/v1/namespaces/pin-b/secrets', secret(`owner-${name}`));
    const { uid } = owner.body.metadata;
    const ref = name === 'same-kind' ? { apiVersion: 'v1', kind: 'Secret', name: 'another', uid }
      : name === 'same-name' ? { apiVersion: 'v1', kind: 'ConfigMap', name: `owner-${name}`, uid }
        : { apiVersion: 'v1', kind: 'Secret', name: `owner-${name}`, uid };
    assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/pin-b/configmaps', { metadata: { name: `dependent-${name}`, ownerReferences: [ref] } })).status, 201);
  }
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/owner-same-kind', undefined, bob)).status, 200, 'another name');
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/owner-same-name', undefined, bob)).status, 200, 'another kind');
  assert.equal(await exists('/api/v1/namespaces/pin-b/configmaps/dependent-same-kind'), true);
  assert.equal(await exists('/api/v1/namespaces/pin-b/configmaps/dependent-same-name'), true);
  // A real dependent bob may not delete: refused, and kubectl's --cascade=orphan still deletes the owner alone.
  assertRefused(await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/owner-real', undefined, bob), 403, 'Forbidden', /would delete a dependent you may not delete/);
  const orphaned = await call(api.app, 'DELETE', '/api/v1/namespaces/pin-b/secrets/owner-real', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' }, bob);
  assert.equal(orphaned.status, 200, JSON.stringify(orphaned.body));
  const kept = await call(api.app, 'GET', '/api/v1/namespaces/pin-b/configmaps/dependent-real');
  assert.equal(kept.status, 200);
  assert.equal(kept.body.metadata.ownerReferences, undefined, 'released from its deleted owner');
});

test('a namespaced object may not name a cluster-scoped owner (422), and one stored before is not followed: an RBAC admin outside system:masters still deletes the binding', async () => {
  await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'binding-admin' }, rules: [{ verbs: ['delete', 'get', 'list'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'] }] });
  await bindClusterRole(api.app, 'binding-admin', 'binding-admin', 'rbac-admin');
  await grant('pin-a', 'pinner-crb', 'pinner', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'], verbs: ['list'] }]);
  await bindClusterRole(api.app, 'pinned-binding', 'view', 'someone');
  const crbs = '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
  const { uid } = (await call(api.app, 'GET', `${crbs}/pinned-binding`)).body.metadata;
  const ref = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: 'pinned-binding', uid };
  const pin = await call(api.app, 'POST', '/api/v1/namespaces/pin-a/configmaps', { metadata: { name: 'pin-binding', ownerReferences: [ref] } }, asUser('pinner'));
  assertRefused(pin, 422, 'Invalid', /metadata\.ownerReferences\[0\]: .*a namespaced object may not name a cluster-scoped owner/);
  // A cluster-scoped object may not name a namespaced owner either: it has no namespace to find it in.
  const secretRef = { apiVersion: 'v1', kind: 'Secret', name: 'db', uid: 'some-uid' };
  const upward = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'owned-by-secret', ownerReferences: [secretRef] }, rules: [] });
  assertRefused(upward, 422, 'Invalid', /metadata\.ownerReferences\[0\]: .*a cluster-scoped object may not name a namespaced owner/);

  // A pin stored before the rule: still readable and writable (the reference it holds is kept), never followed.
  await storeRaw('configmaps', 'pin-a', {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'legacy-pin', namespace: 'pin-a', uid: 'legacy-pin-uid', creationTimestamp: '2026-01-01T00:00:00Z', ownerReferences: [ref] }, data: { a: '1' },
  });
  const relabelled = await call(api.app, 'PATCH', '/api/v1/namespaces/pin-a/configmaps/legacy-pin', { metadata: { labels: { kept: 'yes' } } }, undefined, mergePatch);
  assert.equal(relabelled.status, 200, JSON.stringify(relabelled.body));
  assert.deepEqual(relabelled.body.metadata.ownerReferences, [ref]);
  const revoked = await call(api.app, 'DELETE', `${crbs}/pinned-binding`, undefined, asUser('rbac-admin'));
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.equal(await exists(`${crbs}/pinned-binding`), false);
  assert.equal(await exists('/api/v1/namespaces/pin-a/configmaps/legacy-pin'), true, 'not a dependent: not deleted');
});

test('cluster-scoped owners and dependents cascade as in Kubernetes: Background, Foreground and Orphan', async () => {
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  for (const policy of ['Background', 'Foreground', 'Orphan']) {
    const role = await call(api.app, 'POST', `${rbac}/clusterroles`, { metadata: { name: `gc-owner-${policy.toLowerCase()}` }, rules: [] });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const ref = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: role.body.metadata.name, uid: role.body.metadata.uid };
    const binding = await call(api.app, 'POST', `${rbac}/clusterrolebindings`, {
      metadata: { name: `gc-dependent-${policy.toLowerCase()}`, ownerReferences: [ref] }, subjects: [{ kind: 'User', name: 'nobody', apiGroup: 'rbac.authorization.k8s.io' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.body.metadata.name },
    });
    assert.equal(binding.status, 201, JSON.stringify(binding.body));
    assert.equal((await call(api.app, 'DELETE', `${rbac}/clusterroles/${ref.name}?propagationPolicy=${policy}`)).status, 200, policy);
    assert.equal(await exists(`${rbac}/clusterroles/${ref.name}`), false, policy);
    const dependent = await call(api.app, 'GET', `${rbac}/clusterrolebindings/gc-dependent-${policy.toLowerCase()}`);
    if (policy === 'Orphan') {
      assert.equal(dependent.status, 200);
      assert.equal(dependent.body.metadata.ownerReferences, undefined);
    } else {
      assert.equal(dependent.status, 404, `${policy}: the dependent went with its owner`);
    }
  }
});

test('DeleteOptions.preconditions.uid: a delete meant for an object since deleted and recreated under its name is refused (409), delete and deletecollection alike', async () => {
  const url = `${ns}/configmaps/uid-pre`;
  const first = (await call(api.app, 'POST', `${ns}/configmaps`, configMap('uid-pre'))).body.metadata.uid;
  assert.equal((await call(api.app, 'DELETE', url)).status, 200);
  const second = (await call(api.app, 'POST', `${ns}/configmaps`, configMap('uid-pre'))).body.metadata.uid;
  const stale = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: first } };
  const message = new RegExp(`the UID in the precondition \\(${first}\\) does not match the UID in record \\(${second}\\)\\. The object might have been deleted and then recreated`);
  const before = revision();
  assertRefused(await call(api.app, 'DELETE', url, stale), 409, 'Conflict', message);
  assertRefused(await call(api.app, 'DELETE', `${url}?dryRun=All`, stale), 409, 'Conflict', message);
  assertRefused(await call(api.app, 'DELETE', `${ns}/configmaps?fieldSelector=metadata.name%3Duid-pre`, stale), 409, 'Conflict', message);
  assert.equal(revision(), before, 'nothing was deleted');
  assert.equal(await exists(url), true);
  assertRefused(await call(api.app, 'DELETE', url, { preconditions: { uid: 7 } }), 400, 'BadRequest', /preconditions\.uid/);
  const swept = await call(api.app, 'DELETE', `${ns}/configmaps?fieldSelector=metadata.name%3Duid-pre`, { preconditions: { uid: second } });
  assert.equal(swept.status, 200, JSON.stringify(swept.body));
  assert.equal(await exists(url), false);
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('uid-pre'));
  const third = (await call(api.app, 'GET', url)).body.metadata.uid;
  assert.equal((await call(api.app, 'DELETE', url, { preconditions: { uid: third } })).status, 200);
});

test('a uid precondition that fails names the stored uid only to a caller who may read the object', async () => {
  await grant('default', 'uid-deleter', 'uid-deleter', [{ apiGroups: [''], resources: ['secrets'], verbs: ['delete'] }]);
  const stored = (await call(api.app, 'POST', `${ns}/secrets`, secret('uid-hidden'))).body.metadata.uid;
  const refused = await call(api.app, 'DELETE', `${ns}/secrets/uid-hidden`, { preconditions: { uid: 'not-its-uid' } }, asUser('uid-deleter'));
  assertRefused(refused, 409, 'Conflict', /the UID in the precondition \(not-its-uid\) does not match the UID in record/);
  assert.ok(!JSON.stringify(refused.body).includes(stored), `the refusal shows the uid: ${refused.body.message}`);
  assert.equal(await exists(`${ns}/secrets/uid-hidden`), true);
  assert.equal((await call(api.app, 'DELETE', `${ns}/secrets/uid-hidden`, { preconditions: { uid: stored } }, asUser('uid-deleter'))).status, 200);
});

test('naming an owner needs the right to update it, by every write and dry run or not: a creator cannot make its object a dependent that holds up the deletion of an object it may not change', async () => {
  // squatter may create, update and patch ConfigMaps (and apply them) and list Secrets (uids are no secret);
  // deleter may delete Secrets and nothing else.
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'squat' } });
  await grant('squat', 'squatter', 'squatter', [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update', 'patch', 'get'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
  ]);
  await grant('squat', 'deleter', 'deleter', [{ apiGroups: [''], resources: ['secrets'], verbs: ['delete'] }]);
  const squatter = asUser('squatter');
  const victim = await call(api.app, 'POST', '/api/v1/namespaces/squat/secrets', secret('victim'));
  const ref = { apiVersion: 'v1', kind: 'Secret', name: 'victim', uid: victim.body.metadata.uid };
  const guess = { apiVersion: 'v1', kind: 'Secret', name: 'not-there', uid: 'no-such-uid' };
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/squat/configmaps', configMap('plain'), squatter)).status, 201);
  const before = revision();
  for (const owner of [ref, guess]) {
    const meta = { ownerReferences: [owner] };
    const writes: [string, Promise<Reply>][] = [
      ['create', call(api.app, 'POST', '/api/v1/namespaces/squat/configmaps', { metadata: { name: 'squatting', ...meta } }, squatter)],
      ['create, dry run', call(api.app, 'POST', '/api/v1/namespaces/squat/configmaps?dryRun=All', { metadata: { name: 'squatting', ...meta } }, squatter)],
      ['update', call(api.app, 'PUT', '/api/v1/namespaces/squat/configmaps/plain', { metadata: { name: 'plain', ...meta } }, squatter)],
      ['merge patch', call(api.app, 'PATCH', '/api/v1/namespaces/squat/configmaps/plain', { metadata: meta }, squatter, mergePatch)],
      ['json patch', call(api.app, 'PATCH', '/api/v1/namespaces/squat/configmaps/plain', [{ op: 'add', path: '/metadata/ownerReferences', value: [owner] }], squatter, 'application/json-patch+json')],
      ['apply', call(api.app, 'PATCH', '/api/v1/namespaces/squat/configmaps/applied?fieldManager=squatter', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', ...meta } }), squatter, 'application/apply-patch+yaml')],
    ];
    const answers = new Set<string>();
    for (const [what, reply] of writes) {
      const refused = await reply;
      assertRefused(refused, 403, 'Forbidden', /needs the right to update it/);
      answers.add(refused.body.message.replace(/configmaps "\w+"/, 'configmaps X'));
      assert.equal(refused.body.message.includes(owner.uid), false, what);
    }
    assert.equal(answers.size, 1, 'one answer, whatever the write');
  }
  assert.equal(revision(), before, 'nothing was written');
  // The Secret's deletion is the deleter's to make.
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/squat/secrets/victim', undefined, asUser('deleter'))).status, 200);

  // Who may update the owner may name it; a reference the object already holds stays, whoever writes it next.
  await grant('squat', 'secret-updater', 'squatter', [{ apiGroups: [''], resources: ['secrets'], verbs: ['update'] }]);
  const owner = await call(api.app, 'POST', '/api/v1/namespaces/squat/secrets', secret('owner'));
  const owned = { apiVersion: 'v1', kind: 'Secret', name: 'owner', uid: owner.body.metadata.uid };
  const dependent = await call(api.app, 'POST', '/api/v1/namespaces/squat/configmaps', { metadata: { name: 'dependent', ownerReferences: [owned] } }, squatter);
  assert.equal(dependent.status, 201, JSON.stringify(dependent.body));
  await call(api.app, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/squat/rolebindings/secret-updater');
  const relabelled = await call(api.app, 'PATCH', '/api/v1/namespaces/squat/configmaps/dependent', { metadata: { labels: { kept: 'yes' } } }, squatter, mergePatch);
  assert.equal(relabelled.status, 200, JSON.stringify(relabelled.body));
  assert.deepEqual(relabelled.body.metadata.ownerReferences, [owned]);
  // References to kinds Coffer does not store are followed by nothing here, and need nothing.
  const foreign = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd1' };
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces/squat/configmaps', { metadata: { name: 'by-deployment', ownerReferences: [foreign] } }, squatter)).status, 201);
});
