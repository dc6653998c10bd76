// What a caller who may not `get` a Secret learns by writing it: nothing of its values, of its data keys,
// of kubectl's last-applied annotation or its managedFields, and nothing of objects it may not read —
// whether it applies, JSON-patches, merge-patches or deletes, dry run or not; and a dry run answers as the
// real request would. Each test sends the same request where the hidden thing differs and compares the
// answers (docs/security.md, "Values reach only callers who may get them", "Dry runs").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { asUser, bindClusterRole, call, configMap, secret, startApi, type Api, type Reply } from './harness.ts';

let api: Api;
const ns = '/api/v1/namespaces/default';
const applyType = 'application/apply-patch+yaml';
const jsonPatch = 'application/json-patch+json';
const mergePatch = 'application/merge-patch+json';
const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const pat = asUser('pat'); // patch only on Secrets
const cmdel = asUser('cmdel'); // delete only on ConfigMaps
const seer = asUser('seer'); // delete on ConfigMaps, get and list on Secrets
const revision = (): number => api.backend.mvcc().currentRevision();

async function role(name: string, rules: unknown[], user: string): Promise<void> {
  const created = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name }, rules });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await bindClusterRole(api.app, `${name}-binding`, name, user);
}

before(async () => {
  api = await startApi();
  await role('blind-patcher', [{ apiGroups: [''], resources: ['secrets'], verbs: ['patch'] }], 'pat');
  await role('blind-cm-deleter', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['delete', 'deletecollection', 'list'] }], 'cmdel');
  await role('seeing-cm-deleter', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['delete'] }, { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }], 'seer');
});
after(async () => { await api.close(); });

/** An answer without what legitimately differs between two objects or two moments: resourceVersion, uid, name, creation time. */
function shape(reply: Reply, ...names: string[]): string {
  let text = JSON.stringify({ status: reply.status, body: reply.body })
    .replace(/"resourceVersion":"\d+",?/g, '').replace(/"uid":"[^"]*",?/g, '').replace(/"creationTimestamp":"[^"]*",?/g, '');
  for (const name of names) text = text.split(name).join('NAME');
  return text;
}

function applyAs(who: Record<string, string>, name: string, config: Record<string, unknown>, query: string): Promise<Reply> {
  const body = { apiVersion: 'v1', kind: 'Secret', ...config, metadata: { name, ...(config.metadata as object | undefined) } };
  return call(api.app, 'PATCH', `${ns}/secrets/${name}?fieldManager=guesser&${query}`, JSON.stringify(body), who, applyType);
}

test('server-side apply by a caller without get compares no hidden field: a guessed last-applied annotation answers the same right or wrong', async () => {
  const embedded = (pin: string): string => `{"apiVersion":"v1","data":{"pin":"${b64(pin)}"},"kind":"Secret","metadata":{"annotations":{},"name":"vault-pin","namespace":"default"},"type":"Opaque"}\n`;
  const created = await call(api.app, 'POST', `${ns}/secrets?fieldManager=kubectl-client-side-apply`, secret('vault-pin', { pin: '4821' }, { metadata: { annotations: { [lastApplied]: embedded('4821') } } }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const query of ['dryRun=All', 'dryRun=All&force=true']) {
    const right = await applyAs(pat, 'vault-pin', { metadata: { annotations: { [lastApplied]: embedded('4821') } } }, query);
    const wrong = await applyAs(pat, 'vault-pin', { metadata: { annotations: { [lastApplied]: embedded('4820') } } }, query);
    assert.equal(shape(right), shape(wrong), `${query}: the right and a wrong PIN answer differently`);
    assert.ok(!JSON.stringify(right.body).includes(b64('4821')), 'no value in the answer');
  }
  // A caller who may get it sees Kubernetes' behaviour: the equal value is shared, a different one conflicts.
  assert.equal((await applyAs(asUser('admin', ['system:masters']), 'vault-pin', { metadata: { annotations: { [lastApplied]: embedded('4821') } } }, 'dryRun=All')).status, 200);
  assert.equal((await applyAs(asUser('admin', ['system:masters']), 'vault-pin', { metadata: { annotations: { [lastApplied]: embedded('4820') } } }, 'dryRun=All')).status, 409);
});

test('server-side apply by a caller without get answers the same whether the data key it sets exists, and whoever owns it', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret('apply-keys', { password: 'hunter2' }))).status, 201);
  for (const query of ['dryRun=All', 'dryRun=All&force=true']) {
    for (const field of ['stringData', 'data']) {
      const present = await applyAs(pat, 'apply-keys', { [field]: { password: field === 'data' ? b64('guess') : 'guess' } }, query);
      const absent = await applyAs(pat, 'apply-keys', { [field]: { absent: field === 'data' ? b64('guess') : 'guess' } }, query);
      assert.equal(shape(present), shape(absent), `${query} ${field}: a present and an absent key answer differently`);
      assert.equal(present.status, query.includes('force') ? 200 : 409, JSON.stringify(present.body));
    }
  }
  // Its own key, which no other manager owns, is refused the same way without force: who owns a field is hidden too.
  assert.equal((await applyAs(pat, 'apply-keys', { stringData: { mine: 'v' } }, 'force=true')).status, 200);
  const again = await applyAs(pat, 'apply-keys', { stringData: { mine: 'v' } }, 'dryRun=All');
  const other = await applyAs(pat, 'apply-keys', { stringData: { password: 'v' } }, 'dryRun=All');
  assert.equal(shape(again), shape(other));
  assert.match(again.body.message, /force/);
  // Fields the caller may see still conflict by value, as in Kubernetes.
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/apply-keys?fieldManager=labeller`, { metadata: { labels: { tier: 'db' } } }, undefined, mergePatch)).status, 200);
  assert.equal((await applyAs(pat, 'apply-keys', { metadata: { labels: { tier: 'db' } } }, 'dryRun=All')).status, 200);
  assert.equal((await applyAs(pat, 'apply-keys', { metadata: { labels: { tier: 'web' } } }, 'dryRun=All')).status, 409);
});

test('a JSON patch from a caller without get is evaluated on what it may see: adds answer the same whatever data keys and hidden annotations exist', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('keyed', { password: 'hunter2' }))).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, { metadata: { name: 'keyless' } })).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('annotated', {}, { metadata: { annotations: { [lastApplied]: '{"data":{}}' } } }))).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('plain', {}))).status, 201);
  const sameFor = async (operations: unknown[], a: string, b: string): Promise<Reply> => {
    const first = await call(api.app, 'PATCH', `${ns}/secrets/${a}?dryRun=All`, operations, pat, jsonPatch);
    const second = await call(api.app, 'PATCH', `${ns}/secrets/${b}?dryRun=All`, operations, pat, jsonPatch);
    assert.equal(shape(first, a), shape(second, b), `${JSON.stringify(operations)} on ${a} and ${b}`);
    return first;
  };
  // Below a data key: "parent is not a container" where the key exists, "path not found" where it does not.
  for (const key of ['password', 'absent']) {
    const below = await call(api.app, 'PATCH', `${ns}/secrets/keyed?dryRun=All`, [{ op: 'add', path: `/data/${key}/x`, value: 'x' }], pat, jsonPatch);
    assert.equal(below.status, 403, `add below data key ${key}: ${JSON.stringify(below.body)}`);
  }
  // A key added to a Secret with data and to one without.
  assert.equal((await sameFor([{ op: 'add', path: '/data/new', value: b64('v') }], 'keyed', 'keyless')).status, 200);
  // An annotation added where the only annotation is the hidden one, and where there is none.
  assert.equal((await sameFor([{ op: 'add', path: '/metadata/annotations/note', value: 'x' }], 'annotated', 'plain')).status, 200);
  assert.equal((await sameFor([{ op: 'add', path: `/metadata/annotations/${lastApplied.replace('/', '~1')}`, value: '{}' }], 'annotated', 'plain')).status, 200);

  // The write keeps what the caller could not see, and adds what it sent.
  const added = await call(api.app, 'PATCH', `${ns}/secrets/annotated`, [{ op: 'add', path: '/data/new', value: b64('v') }, { op: 'add', path: '/metadata/annotations/note', value: 'x' }], pat, jsonPatch);
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const read = await call(api.app, 'GET', `${ns}/secrets/annotated`);
  assert.deepEqual(read.body.metadata.annotations, { [lastApplied]: '{"data":{}}', note: 'x' });
  assert.deepEqual(read.body.data, { new: b64('v') });
  const keyed = await call(api.app, 'PATCH', `${ns}/secrets/keyed`, [{ op: 'add', path: '/data/new', value: b64('v') }], pat, jsonPatch);
  assert.equal(keyed.status, 200, JSON.stringify(keyed.body));
  assert.deepEqual((await call(api.app, 'GET', `${ns}/secrets/keyed`)).body.data, { password: b64('hunter2'), new: b64('v') });
  // Replacing the whole data (or the whole annotations) replaces what was hidden too.
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/keyed`, [{ op: 'add', path: '/data', value: { only: b64('o') } }], pat, jsonPatch)).status, 200);
  assert.deepEqual((await call(api.app, 'GET', `${ns}/secrets/keyed`)).body.data, { only: b64('o') });
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/annotated`, [{ op: 'replace', path: '/metadata/annotations', value: { fresh: 'y' } }], pat, jsonPatch)).status, 200);
  assert.deepEqual((await call(api.app, 'GET', `${ns}/secrets/annotated`)).body.metadata.annotations, { fresh: 'y' });
});

test('a JSON patch touching managedFields or the last-applied annotation needs get: refused the same whether the path exists', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret('tracked', { password: 'hunter2' }, { metadata: { annotations: { [lastApplied]: '{}' } } }))).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret('untracked', { password: 'hunter2' }))).status, 201);
  const escaped = lastApplied.replace('/', '~1');
  const paths = (key: string): string[] => [
    `/metadata/managedFields/0/fieldsV1/f:data/f:${key}`, '/metadata/managedFields/0', '/metadata/managedFields', '/metadata/managedFields/-',
    `/metadata/annotations/${escaped}`, `/metadata/annotations/${escaped}/x`, `/data/${key}`, `/stringData/${key}`, '/data',
  ];
  const before = revision();
  for (const [target, key] of [['tracked', 'password'], ['untracked', 'absent']] as const) {
    for (const path of paths(key)) {
      for (const operation of [{ op: 'remove', path }, { op: 'replace', path, value: 'x' }, { op: 'test', path, value: 'x' }, { op: 'copy', from: path, path: '/metadata/labels/x' }, { op: 'move', from: path, path: '/metadata/labels/x' }]) {
        for (const query of ['', '?dryRun=All']) {
          const reply = await call(api.app, 'PATCH', `${ns}/secrets/${target}${query}`, [operation], pat, jsonPatch);
          assert.equal(reply.status, 403, `${target} ${JSON.stringify(operation)}${query}: ${JSON.stringify(reply.body)}`);
          assert.match(reply.body.message, /cannot get resource "secrets"/);
        }
      }
    }
    const inside = await call(api.app, 'PATCH', `${ns}/secrets/${target}?dryRun=All`, [{ op: 'add', path: `/metadata/managedFields/0/fieldsV1/f:data/f:${key}`, value: {} }], pat, jsonPatch);
    assert.equal(inside.status, 403, JSON.stringify(inside.body));
  }
  assert.equal(revision(), before, 'nothing was written');
});

test('a merge patch from a caller without get answers a basic-auth Secret the same whether it holds the other of username and password', async () => {
  for (const [name, data] of [['both', { username: 'u', password: 'p' }], ['user-only', { username: 'u' }], ['password-only', { password: 'p' }]] as const) {
    assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret(`basic-${name}`, data, { type: 'kubernetes.io/basic-auth' }))).status, 201);
  }
  const before = revision();
  const answers = new Map<string, string[]>();
  for (const patch of [{ data: { username: null } }, { data: { password: null } }, { stringData: { username: 'x' }, data: { password: null } }, { data: { username: null, password: null } }]) {
    const shapes: string[] = [];
    for (const name of ['basic-both', 'basic-user-only', 'basic-password-only']) {
      const reply = await call(api.app, 'PATCH', `${ns}/secrets/${name}?dryRun=All`, patch, pat, mergePatch);
      shapes.push(shape(reply, name));
    }
    answers.set(JSON.stringify(patch), shapes);
    assert.equal(new Set(shapes).size, 1, `${JSON.stringify(patch)}: the answers tell the key sets apart:\n${shapes.join('\n')}`);
  }
  assert.match(answers.get(JSON.stringify({ data: { username: null } }))![0]!, /"status":422/);
  assert.match(answers.get(JSON.stringify({ stringData: { username: 'x' }, data: { password: null } }))![0]!, /"status":200/);
  assert.equal(revision(), before);
  // A caller who may get it is answered by the Secret it has.
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/basic-both?dryRun=All`, { data: { username: null } }, undefined, mergePatch)).status, 200);
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/basic-user-only?dryRun=All`, { data: { username: null } }, undefined, mergePatch)).status, 422);
});

async function ownedSecret(owner: string, dependent: string, extra: Record<string, unknown> = {}): Promise<void> {
  const made = await call(api.app, 'POST', `${ns}/configmaps`, configMap(owner));
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: owner, uid: made.body.metadata.uid };
  const created = await call(api.app, 'POST', `${ns}/secrets`, secret(dependent, { password: 'x' }, { ...extra, metadata: { ownerReferences: [ref], ...(extra.metadata as object | undefined) } }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

test('a refused cascade names no dependent the caller may not read; one it may read is named', async () => {
  await ownedSecret('payroll-owner', 'payroll-db-credentials');
  const before = revision();
  for (const query of ['', '?propagationPolicy=Foreground', '?dryRun=All']) {
    const refused = await call(api.app, 'DELETE', `${ns}/configmaps/payroll-owner${query}`, undefined, cmdel);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.ok(!JSON.stringify(refused.body).includes('payroll-db-credentials'), `the refusal names the Secret: ${refused.body.message}`);
    assert.match(refused.body.message, /propagationPolicy=Orphan/);
    const named = await call(api.app, 'DELETE', `${ns}/configmaps/payroll-owner${query}`, undefined, seer);
    assert.equal(named.status, 403);
    assert.match(named.body.message, /dependent secrets "payroll-db-credentials"/);
  }
  assert.equal(revision(), before, 'nothing was deleted');
});

test('a dry-run delete runs the cascade check and answers as the delete: refused, held, or done; deletecollection too', async () => {
  await ownedSecret('dry-owner', 'dry-dependent');
  const before = revision();
  const dry = await call(api.app, 'DELETE', `${ns}/configmaps/dry-owner?dryRun=All`, undefined, cmdel);
  const dryBody = await call(api.app, 'DELETE', `${ns}/configmaps/dry-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] }, cmdel);
  const collection = await call(api.app, 'DELETE', `${ns}/configmaps?fieldSelector=metadata.name%3Ddry-owner&dryRun=All`, undefined, cmdel);
  assert.equal(revision(), before, 'a dry run wrote nothing');
  const real = await call(api.app, 'DELETE', `${ns}/configmaps/dry-owner`, undefined, cmdel);
  const realCollection = await call(api.app, 'DELETE', `${ns}/configmaps?fieldSelector=metadata.name%3Ddry-owner`, undefined, cmdel);
  assert.equal(real.status, 403, JSON.stringify(real.body));
  assert.equal(realCollection.status, 403, JSON.stringify(realCollection.body));
  assert.equal(shape(dry), shape(real));
  assert.equal(shape(dryBody), shape(real));
  assert.equal(shape(collection), shape(realCollection));
  assert.equal(revision(), before, 'the refused deletes wrote nothing');

  // Foreground, a dependent held by a finalizer: the real delete answers 202 with the owner held; so does the dry run.
  await ownedSecret('held-owner', 'held-dependent', { metadata: { finalizers: ['example.com/hold'] } });
  const heldDry = await call(api.app, 'DELETE', `${ns}/configmaps/held-owner?propagationPolicy=Foreground&dryRun=All`);
  assert.equal((await call(api.app, 'GET', `${ns}/configmaps/held-owner`)).body.metadata.finalizers, undefined, 'the dry run marked nothing');
  const heldReal = await call(api.app, 'DELETE', `${ns}/configmaps/held-owner?propagationPolicy=Foreground`);
  assert.equal(heldReal.status, 202, JSON.stringify(heldReal.body));
  assert.equal(heldDry.status, heldReal.status, JSON.stringify(heldDry.body));
  assert.deepEqual(heldDry.body.metadata.finalizers, heldReal.body.metadata.finalizers);
  // Without a held dependent, the owner goes at once: 200 both ways.
  await ownedSecret('free-owner', 'free-dependent');
  const freeDry = await call(api.app, 'DELETE', `${ns}/configmaps/free-owner?propagationPolicy=Foreground&dryRun=All`);
  const freeReal = await call(api.app, 'DELETE', `${ns}/configmaps/free-owner?propagationPolicy=Foreground`);
  assert.equal(freeReal.status, 200, JSON.stringify(freeReal.body));
  assert.equal(shape(freeDry), shape(freeReal));

  // deletecollection: the real one finds what an earlier deletion's cascade took gone; the dry run leaves it out too.
  const owner = await call(api.app, 'POST', `${ns}/configmaps`, configMap('a-swept-owner', { a: '1' }, { sweep: 'yes' }));
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'a-swept-owner', uid: owner.body.metadata.uid };
  assert.equal((await call(api.app, 'POST', `${ns}/configmaps`, { metadata: { name: 'b-swept-dependent', labels: { sweep: 'yes' }, ownerReferences: [ref] }, data: { b: '2' } })).status, 201);
  const names = (reply: Reply): string[] => reply.body.items.map((item) => item.metadata.name);
  const sweptDry = await call(api.app, 'DELETE', `${ns}/configmaps?labelSelector=sweep%3Dyes&dryRun=All`);
  const sweptReal = await call(api.app, 'DELETE', `${ns}/configmaps?labelSelector=sweep%3Dyes`);
  assert.deepEqual(names(sweptReal), ['a-swept-owner']);
  assert.deepEqual(names(sweptDry), names(sweptReal));
});
