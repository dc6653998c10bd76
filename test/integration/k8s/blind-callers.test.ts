// What a caller who may not `get` a Secret learns by writing it: nothing of its values, of its data keys,
// of kubectl's last-applied annotation or its managedFields, and nothing of objects it may not read —
// whether it applies, JSON-patches, merge-patches or deletes, dry run or not; and a dry run answers as the
// real request would. Each test sends the same request where the hidden thing differs and compares the
// answers (docs/security.md, "Values reach only callers who may get them", "Dry runs").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { managedFieldsBytesMax, valueBytesMax } from '../../../src/config/index.ts';
import { asUser, bindClusterRole, call, configMap, secret, startApi, type Api, type Reply } from './harness.ts';

let api: Api;
const ns = '/api/v1/namespaces/default';
const applyType = 'application/apply-patch+yaml';
const jsonPatch = 'application/json-patch+json';
const mergePatch = 'application/merge-patch+json';
const strategicPatch = 'application/strategic-merge-patch+json';
const coffer = '/apis/coffer.dev/v1/namespaces/default/secrets';
const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const pat = asUser('pat'); // patch only on Secrets
const wri = asUser('wri'); // patch and update on Secrets, rotate, promote and rollback, get secrets/versions; no get
const cmdel = asUser('cmdel'); // delete only on ConfigMaps
const seer = asUser('seer'); // delete on ConfigMaps, get and list on Secrets
const rot = asUser('rot'); // create secrets/rotate only
const revision = (): number => api.backend.mvcc().currentRevision();

async function role(name: string, rules: unknown[], user: string): Promise<void> {
  const created = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name }, rules });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await bindClusterRole(api.app, `${name}-binding`, name, user);
}

before(async () => {
  api = await startApi();
  await role('blind-patcher', [{ apiGroups: [''], resources: ['secrets'], verbs: ['patch'] }], 'pat');
  await role('blind-writer', [
    { apiGroups: [''], resources: ['secrets'], verbs: ['patch', 'update'] },
    { apiGroups: ['coffer.dev'], resources: ['secrets/rotate', 'secrets/promote', 'secrets/rollback'], verbs: ['create'] },
    { apiGroups: ['coffer.dev'], resources: ['secrets/versions'], verbs: ['get'] },
  ], 'wri');
  await role('blind-cm-deleter', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['delete', 'deletecollection', 'list'] }], 'cmdel');
  await role('blind-rotator', [{ apiGroups: ['coffer.dev'], resources: ['secrets/rotate'], verbs: ['create'] }], 'rot');
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

test('server-side apply by a caller without get prunes the same whether anyone else owns the data keys and the last-applied annotation', async () => {
  // Two TLS Secrets, each with an annotation and the caller's own data key and annotation: in one the creator still owns
  // the rest, in the other no one does (managedFields set so by an administrator, as kubectl's migration does).
  const admin = asUser('admin', ['system:masters']);
  for (const name of ['prune-owned', 'prune-unowned']) {
    const created = await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret(name, { 'tls.crt': 'c', 'tls.key': 'k' }, { type: 'kubernetes.io/tls', metadata: { annotations: { unowned: 'u', [lastApplied]: '{}' } } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const own = await applyAs(pat, name, { type: 'kubernetes.io/tls', stringData: { mine: 'v' }, metadata: { annotations: { note: 'n' } } }, 'force=true');
    assert.equal(own.status, 200, JSON.stringify(own.body));
  }
  const read = await call(api.app, 'GET', `${ns}/secrets/prune-unowned`, undefined, admin);
  const guesserOnly = (read.body.metadata as unknown as { managedFields: { manager: string }[] }).managedFields.filter((m) => m.manager === 'guesser');
  const reset = await call(api.app, 'PATCH', `${ns}/secrets/prune-unowned`, [{ op: 'replace', path: '/metadata/managedFields', value: guesserOnly }], admin, jsonPatch);
  assert.equal(reset.status, 200, JSON.stringify(reset.body));
  // The caller stops applying its key and annotation: what it sees, and whether the Secret stays valid, may not tell the two apart.
  for (const query of ['dryRun=All', '']) {
    const owned = await applyAs(pat, 'prune-owned', { type: 'kubernetes.io/tls' }, query);
    const unowned = await applyAs(pat, 'prune-unowned', { type: 'kubernetes.io/tls' }, query);
    assert.equal(shape(owned, 'prune-owned'), shape(unowned, 'prune-unowned'), `${query}: the answers differ`);
    assert.equal(owned.status, 200, JSON.stringify(owned.body));
  }
  for (const name of ['prune-owned', 'prune-unowned']) {
    const stored = await call(api.app, 'GET', `${ns}/secrets/${name}`, undefined, admin);
    assert.deepEqual(Object.keys(stored.body.data ?? {}).sort(), ['tls.crt', 'tls.key'], name);
    assert.deepEqual(stored.body.metadata.annotations, { unowned: 'u', [lastApplied]: '{}' }, name);
  }
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

/** One metadata.managedFields entry as a client sends it. */
function managerEntry(manager: string, operation: 'Apply' | 'Update', fieldsV1: Record<string, unknown>): Record<string, unknown> {
  return { manager, operation, apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1 };
}

/** Label names long enough that a few hundred, owned by enough managers, fill managedFieldsBytesMax. */
const paddingLabels = Array.from({ length: 400 }, (_, i) => `pad-${String(i).padStart(4, '0')}-${'x'.repeat(50)}`);
const ownedLabels = (names: readonly string[]): Record<string, unknown> => ({ 'f:metadata': { 'f:labels': Object.fromEntries(names.map((n) => [`f:${n}`, {}])) } });

test('a caller without get may not set managedFields, by any write: refused the same whatever they claim, dry run or not', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret('claimed', { pin: '4821' }))).status, 201);
  const stored = (await call(api.app, 'GET', `${ns}/secrets/claimed`)).body.metadata as unknown as { managedFields: unknown[] };
  // What a caller might send: an entry owning a data key that exists or not (a key-existence oracle, intersected
  // with the fields present), the stored entries exactly (a guess of them), a reset, and the padding that made
  // managedFieldsBytesMax's refusal tell whether a guessed value was right.
  const claims: [string, unknown[]][] = [
    ['owning an existing key', [managerEntry('guesser', 'Update', { 'f:data': { 'f:pin': {} } })]],
    ['owning an absent key', [managerEntry('guesser', 'Update', { 'f:data': { 'f:absent': {} } })]],
    ['the stored ones', stored.managedFields],
    ['a reset', [{}]],
    ['padding', Array.from({ length: 20 }, (_, i) => managerEntry(`pad-${i}`, 'Apply', ownedLabels(paddingLabels)))],
  ];
  const writes = (managedFields: unknown[], pin: string): [string, string, unknown, string][] => [
    ['PUT', 'PUT', { ...secret('claimed', { pin }), metadata: { name: 'claimed', managedFields } }, 'application/json'],
    ['merge patch', 'PATCH', { metadata: { managedFields }, data: { pin: b64(pin) } }, mergePatch],
    ['strategic merge patch', 'PATCH', { metadata: { managedFields }, data: { pin: b64(pin) } }, strategicPatch],
    ['JSON patch', 'PATCH', [{ op: 'add', path: '/metadata/managedFields', value: managedFields }, { op: 'add', path: '/data/pin', value: b64(pin) }], jsonPatch],
    ['JSON patch of the whole metadata', 'PATCH', [{ op: 'add', path: '/metadata', value: { name: 'claimed', managedFields } }, { op: 'add', path: '/data/pin', value: b64(pin) }], jsonPatch],
  ];
  const before = revision();
  for (const query of ['', '&dryRun=All']) {
    const answers = new Map<string, Set<string>>();
    for (const [claim, managedFields] of claims) {
      for (const pin of ['4821', '4820']) {
        for (const [verb, method, body, contentType] of writes(managedFields, pin)) {
          const reply = await call(api.app, method, `${ns}/secrets/claimed?fieldManager=guesser${query}`, body, wri, contentType);
          const what = `${verb} ${claim} pin ${pin}${query}`;
          assert.equal(reply.status, 403, `${what}: ${JSON.stringify(reply.body).slice(0, 300)}`);
          assert.equal(reply.body.reason, 'Forbidden', what);
          assert.match(reply.body.message, /only a caller who may get the Secret may set its metadata.managedFields/, what);
          answers.set(verb, (answers.get(verb) ?? new Set()).add(shape(reply)));
        }
      }
    }
    for (const [verb, shapes] of answers) assert.equal(shapes.size, 1, `${verb}${query}: the answers differ by what is claimed:\n${[...shapes].join('\n')}`);
  }
  assert.equal(revision(), before, 'nothing was written');
  // Absent, null or an empty list keep the stored ones, as for anyone; a caller who may get the Secret sets them.
  for (const managedFields of [null, []]) {
    const kept = await call(api.app, 'PATCH', `${ns}/secrets/claimed?dryRun=All`, { metadata: { managedFields }, data: { pin: b64('1') } }, wri, mergePatch);
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
  }
  const set = await call(api.app, 'PATCH', `${ns}/secrets/claimed?dryRun=All`, { metadata: { managedFields: claims[0]![1] } }, undefined, mergePatch);
  assert.equal(set.status, 200, JSON.stringify(set.body));
});

const blindVerbs = ['PUT', 'merge patch', 'strategic merge patch', 'JSON patch', 'rotate', 'promote', 'rollback', 'apply'] as const;
type BlindVerb = (typeof blindVerbs)[number];

/** A Secret whose versions hold `pin`: `first`, then 0000, then 4821 (current), all written by `creator` — so a rollback to version 1 writes `first`. */
async function guessable(name: string, first: string, labels: Record<string, string> = {}): Promise<void> {
  const created = await call(api.app, 'POST', `${ns}/secrets?fieldManager=creator`, secret(name, { pin: first, other: 'x' }, { metadata: { labels } }));
  assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 300));
  for (const pin of ['0000', '4821']) {
    const patched = await call(api.app, 'PATCH', `${ns}/secrets/${name}?fieldManager=creator`, { data: { pin: b64(pin) } }, undefined, mergePatch);
    assert.equal(patched.status, 200, JSON.stringify(patched.body).slice(0, 300));
  }
}

/** `guess` written to the key `pin` of Secret `name` by `verb`, as the blind writer under the field manager `guesser` (a rollback writes version 1: guessable). */
async function writeGuess(verb: BlindVerb, name: string, guess: string, query: string, labels: Record<string, string> = {}): Promise<Reply> {
  const q = `?fieldManager=guesser${query}`;
  const data = { pin: b64(guess) };
  switch (verb) {
    case 'PUT': return call(api.app, 'PUT', `${ns}/secrets/${name}${q}`, secret(name, { pin: guess, other: 'x' }, { metadata: { labels } }), wri);
    case 'merge patch': return call(api.app, 'PATCH', `${ns}/secrets/${name}${q}`, { data }, wri, mergePatch);
    case 'strategic merge patch': return call(api.app, 'PATCH', `${ns}/secrets/${name}${q}`, { data }, wri, strategicPatch);
    case 'JSON patch': return call(api.app, 'PATCH', `${ns}/secrets/${name}${q}`, [{ op: 'add', path: '/data/pin', value: data.pin }], wri, jsonPatch);
    case 'rotate': return call(api.app, 'POST', `${coffer}/${name}/rotate${q}`, { data }, wri);
    case 'promote': {
      const staged = await call(api.app, 'POST', `${coffer}/${name}/rotate`, { data, stage: true }, wri);
      assert.equal(staged.status, 200, JSON.stringify(staged.body));
      return call(api.app, 'POST', `${coffer}/${name}/promote${q}`, {}, wri);
    }
    case 'rollback': return call(api.app, 'POST', `${coffer}/${name}/rollback${q}`, { version: 1 }, wri);
    case 'apply': return call(api.app, 'PATCH', `${ns}/secrets/${name}${q}&force=true`, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data }), wri, applyType);
  }
}

/**
 * Sets Secret `name`'s managedFields (as a caller who may) to its own entries and Apply entries owning its
 * labels, `slack` bytes under managedFieldsBytesMax: the edge where one more entry is refused.
 */
async function padToEdge(name: string, slack: number): Promise<void> {
  const managed = async (): Promise<unknown[]> => ((await call(api.app, 'GET', `${ns}/secrets/${name}`)).body.metadata as unknown as { managedFields: unknown[] }).managedFields;
  const bytes = (entries: unknown[]): number => Buffer.byteLength(JSON.stringify(entries));
  const target = managedFieldsBytesMax - slack;
  const entries = await managed();
  // At most 18 apply managers, so an apply adds one under managedFieldsApplyManagersMax (20) with the tuning entry.
  for (let i = 0; i < 18; i += 1) {
    const next = [...entries, managerEntry(`pad-${i}`, 'Apply', ownedLabels(paddingLabels))];
    if (bytes(next) > target - 300) break;
    entries.push(next[next.length - 1]);
  }
  let owned = 1;
  while (owned < paddingLabels.length && bytes([...entries, managerEntry('tune', 'Apply', ownedLabels(paddingLabels.slice(0, owned + 1)))]) <= target) owned += 1;
  const tune = managerEntry('tune', 'Apply', ownedLabels(paddingLabels.slice(0, owned)));
  tune.manager = `tune${'y'.repeat(target - bytes([...entries, tune]))}`;
  const padded = await call(api.app, 'PATCH', `${ns}/secrets/${name}?fieldManager=padder`, { metadata: { managedFields: [...entries, tune] } }, undefined, mergePatch);
  assert.equal(padded.status, 200, JSON.stringify(padded.body).slice(0, 300));
  assert.equal(bytes(await managed()), target, `${name}: managedFields padded to ${slack} bytes under the limit`);
}

test('a write by a caller without get takes the data keys it sets, the right value or a wrong one: the same managedFields, and at managedFieldsBytesMax the same refusal, by every write', async () => {
  const withoutTimes = (entries: unknown): unknown => (entries as Record<string, unknown>[]).map(({ time: _t, ...entry }) => entry);
  const labels = Object.fromEntries(paddingLabels.map((n) => [n, 'v']));
  for (const verb of blindVerbs) {
    const managed: unknown[] = [];
    const answers: string[] = [];
    const edge: string[] = [];
    for (const [which, guess] of [['right', '4821'], ['wrong', '4820']] as const) {
      // Written: the guesser owns pin (and, for a rollback, every key it wrote) whether the value it sent was the stored one.
      const name = `owned-${verb.replace(/ /g, '-').toLowerCase()}-${which}`;
      await guessable(name, guess);
      const was = (await call(api.app, 'GET', `${ns}/secrets/${name}`)).body.metadata.resourceVersion;
      const reply = await writeGuess(verb, name, guess, '');
      assert.equal(reply.status, 200, `${verb} ${which}: ${JSON.stringify(reply.body).slice(0, 300)}`);
      const read = (await call(api.app, 'GET', `${ns}/secrets/${name}`)).body;
      assert.notEqual(read.metadata.resourceVersion, was, `${verb} ${which}: written whatever the value`);
      const entries = (read.metadata as unknown as { managedFields: { manager: string; fieldsV1: { 'f:data'?: Record<string, unknown> } }[] }).managedFields;
      assert.ok(entries.some((e) => e.manager === 'guesser' && e.fieldsV1['f:data']?.['f:pin'] !== undefined), `${verb} ${which}: the guesser owns pin: ${JSON.stringify(entries)}`);
      managed.push(withoutTimes(entries));
      answers.push(shape(reply, name));

      // At the edge, dry run: one more entry is refused, and the refusal names no byte count.
      const edgeName = `edge-${verb.replace(/ /g, '-').toLowerCase()}-${which}`;
      await guessable(edgeName, guess, labels);
      await padToEdge(edgeName, 50);
      const refused = await writeGuess(verb, edgeName, guess, '&dryRun=All', labels);
      assert.equal(refused.status, 422, `${verb} ${which} at the edge: ${JSON.stringify(refused.body).slice(0, 300)}`);
      assert.doesNotMatch(refused.body.message, /Too long: \d/, `${verb} ${which}: the refusal names a size`);
      edge.push(shape(refused, edgeName));
    }
    assert.deepEqual(managed[0], managed[1], `${verb}: the managedFields tell the right guess from a wrong one`);
    assert.equal(answers[0], answers[1], `${verb}: the answers differ`);
    assert.equal(edge[0], edge[1], `${verb}: at managedFieldsBytesMax the right guess and a wrong one answer differently`);
  }
  // A caller who may get the Secret sees Kubernetes' behaviour: an equal value takes nothing, and the refusal tells the size.
  await guessable('edge-reader', '4821', labels);
  await padToEdge('edge-reader', 50);
  assert.equal((await call(api.app, 'PATCH', `${ns}/secrets/edge-reader?fieldManager=guesser&dryRun=All`, { data: { pin: b64('4821') } }, undefined, mergePatch)).status, 200);
  const told = await call(api.app, 'PATCH', `${ns}/secrets/edge-reader?fieldManager=guesser&dryRun=All`, { data: { pin: b64('4820') } }, undefined, mergePatch);
  assert.equal(told.status, 422);
  assert.match(told.body.message, /Too long: \d+ bytes/);
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

test('a caller without get learns no byte count of a Secret from a size refusal: an owner reference is bounded (422), and the 413 at valueBytesMax names only the limit', async () => {
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('sized', { password: 'hidden-length-value' }))).status, 201);
  // The probe: an owner reference whose name pads the Secret just past valueBytesMax, so that the refusal's
  // byte count less the padding was the hidden size, in one dry-run request.
  const padding = 'a'.repeat(valueBytesMax - 164);
  const probe = await call(api.app, 'PATCH', `${ns}/secrets/sized?dryRun=All`, { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: padding, uid: 'x' }] } }, pat, mergePatch);
  assert.equal(probe.status, 422, JSON.stringify(probe.body).slice(0, 300));
  assert.equal(probe.body.reason, 'Invalid');
  assert.match(probe.body.message, /metadata\.ownerReferences\[0\]\.name: Too long: may not be more than 253 characters/);
  assert.doesNotMatch(probe.body.message, /bytes stored/);
  for (const [field, value, message] of [
    ['kind', 'K'.repeat(64), /kind: Too long: may not be more than 63 characters/],
    ['kind', 'Not a kind', /kind: Invalid value: "Not a kind"/],
    ['apiVersion', `${'g'.repeat(254)}/v1`, /apiVersion: Too long: may not be more than 317 characters|apiVersion: Invalid value/],
    ['apiVersion', 'a/b/c', /apiVersion: Invalid value: "a\/b\/c"/],
    ['apiVersion', 'example.com/', /apiVersion: Invalid value: "example.com\/": version must not be empty/],
    ['name', 'a/b', /name: Invalid value: "a\/b"/],
  ] as const) {
    const ref = { apiVersion: 'v1', kind: 'Secret', name: 'owner', uid: 'x', [field]: value };
    const refused = await call(api.app, 'PATCH', `${ns}/secrets/sized?dryRun=All`, { metadata: { ownerReferences: [ref] } }, pat, mergePatch);
    assert.equal(refused.status, 422, `${field} ${value.slice(0, 20)}: ${JSON.stringify(refused.body).slice(0, 300)}`);
    assert.match(refused.body.message, message);
  }
  const event = await call(api.app, 'PATCH', `${ns}/secrets/sized?dryRun=All`, { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Event', name: 'e', uid: 'x' }] } }, pat, mergePatch);
  assert.equal(event.status, 422);
  assert.match(event.body.message, /\/v1, Kind=Event is disallowed from being an owner/);

  // Past valueBytesMax by data and annotations a blind caller may set: the refusal names the limit and no size.
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('sized-big', { hidden: 'h'.repeat(700_000) }))).status, 201);
  const grow = { metadata: { annotations: { pad: 'p'.repeat(250_000) } }, data: { pad: b64('d'.repeat(300_000)) } };
  const blind = await call(api.app, 'PATCH', `${ns}/secrets/sized-big?dryRun=All`, grow, pat, mergePatch);
  assert.equal(blind.status, 413, JSON.stringify(blind.body).slice(0, 300));
  assert.match(blind.body.message, new RegExp(`over ${valueBytesMax} bytes`));
  assert.doesNotMatch(blind.body.message.replace(String(valueBytesMax), ''), /\d{4,}/, `the refusal names a size: ${blind.body.message}`);
  // A caller who may get it is told the size, as before.
  const told = await call(api.app, 'PATCH', `${ns}/secrets/sized-big?dryRun=All`, grow, undefined, mergePatch);
  assert.equal(told.status, 413);
  assert.match(told.body.message, /is \d+ bytes stored/);
});

test('a staged rotation by a caller who may not read versions answers the same however often the Secret changed: no version number, no data', async () => {
  for (const [name, changes] of [['staged-once', 0], ['staged-often', 4]] as const) {
    assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret(name, { password: 'v0' }))).status, 201);
    for (let i = 1; i <= changes; i++) {
      assert.equal((await call(api.app, 'POST', `${coffer}/${name}/rotate`, { data: { password: b64(`v${i}`) } })).status, 200);
    }
  }
  const answers = [];
  for (const name of ['staged-once', 'staged-often']) {
    const staged = await call(api.app, 'POST', `${coffer}/${name}/rotate`, { data: { password: b64('next') }, stage: true }, rot);
    assert.equal(staged.status, 200, JSON.stringify(staged.body));
    assert.equal(staged.body.stage, 'pending');
    assert.equal(staged.body.data, undefined);
    answers.push(shape(staged, name).replace(/"createdAt":"[^"]*",?/g, ''));
  }
  assert.equal(answers[0], answers[1]);
  // A caller who may read versions is told the number the promote will make, as before.
  const seen = await call(api.app, 'POST', `${coffer}/staged-often/rotate`, { data: { password: b64('later') }, stage: true });
  assert.equal(seen.body.version, 6);
  assert.equal(seen.body.data?.password, b64('later'));
});
