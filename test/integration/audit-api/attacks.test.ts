// The holes an adversarial review found, each as the attack that worked, against one audited member
// with the default policies: the attack must now fail, leave no value in the answer, leave exactly one
// audit event, and change nothing it was refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { AuditEvent } from '../../../src/audit/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { secretVersionsDefault, watchStreamsPerUserMax } from '../../../src/config/index.ts';
import { encode, frame, messageType } from '../../../src/etcdpb/index.ts';
import { grpcPathPrefix } from '../../../src/api/grpc/plugin.ts';
import { assertNoValue, b64, exchange, grant, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
let app: FastifyInstance;
const clock = new ManualClock(Date.now());

const ns = '/api/v1/namespaces/default';
const secretValue = 'attack-marker-7f3a9c';
const eve = who('eve'); // list and watch Secrets, no get
const pat = who('pat'); // patch and update Secrets, no get
const nobody = who('nobody');
const member = who('system:member:m2', ['system:members']);

async function send(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, body?: unknown, contentType = 'application/json') {
  const response = await app.inject({
    method, url, headers: { ...headers, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, text: response.body, auditID: response.headers['audit-id'] as string | undefined };
}

/** No form of the Secret value: raw, base64, hex. */
function assertNoSecret(text: string, what: string): void {
  assertNoValue(text, secretValue, what);
}

async function eventsFor(auditID: string | undefined): Promise<AuditEvent[]> {
  assert.ok(auditID !== undefined, 'the answer names its audit event');
  return (await m1.events()).filter((e) => e.auditID === auditID);
}

async function revision(): Promise<number> {
  return (await m1.backend.mvcc().hash(0)).revision;
}

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock);
  m1 = audited.members[0]!;
  app = m1.app;
  await grant(app, 'attack-lister', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }], 'eve');
  await grant(app, 'attack-patcher', [{ apiGroups: [''], resources: ['secrets'], verbs: ['patch', 'update'] }], 'pat');
  await grant(app, 'attack-kv', [{ nonResourceURLs: ['/v3/*'], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kvuser');
  const lastApplied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: secretValue } });
  const created = await send('POST', `${ns}/secrets`, admin, {
    apiVersion: 'v1', kind: 'Secret',
    metadata: { name: 'db', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied } },
    data: { password: b64(secretValue) },
  });
  assert.equal(created.status, 201, created.text);
});
after(async () => { await audited.close(); });

test('a single-object watch is a watch: a caller without get receives no value (watch=true, =1, percent-encoded)', async () => {
  for (const query of ['watch=true', 'watch=1', 'watch=%74rue', 'watch=TRUE', '%77atch=true']) {
    const reply = await exchange(app, clock, { method: 'GET', url: `${ns}/secrets/db?allowWatchBookmarks=true&${query}`, headers: eve, streaming: true });
    assert.equal(reply.status, 200, query);
    const event = JSON.parse(reply.text.split('\n')[0]!) as { type: string; object: { metadata: { name: string; annotations: Record<string, string> } } };
    assert.equal(event.type, 'ADDED', query);
    assert.equal(event.object.metadata.name, 'db');
    assert.equal(event.object.metadata.annotations['coffer.dev/data-redacted'], 'true');
    assertNoSecret(reply.text, `watch with ${query}`);
    const events = await eventsFor(reply.auditID);
    assert.equal(events.length, 1, `one audit event for ${query}`);
    assert.equal(events[0]!.verb, 'watch', `${query} is authorized and recorded as a watch`);
  }
});

test('a query that can be read two ways is refused (400) and audited', async () => {
  const before = await revision();
  for (const query of ['watch=true&watch=false', 'watch=maybe', 'watch=1&%77atch=0']) {
    const reply = await send('GET', `${ns}/secrets/db?${query}`, eve);
    assert.equal(reply.status, 400, query);
    assertNoSecret(reply.text, query);
    const events = await eventsFor(reply.auditID);
    assert.equal(events.length, 1, query);
    assert.equal(events[0]!.responseStatus?.code, 400);
    assert.equal(events[0]!.annotations['authorization.k8s.io/decision'], 'forbid');
  }
  assert.equal(await revision(), before);
});

test('paths that route differently than they read are refused and audited, never served', async () => {
  // (Dot segments and fragments never reach a server through inject, which resolves them like a
  // browser; test/unit/api/request.test.ts and the TLS matrix send them raw.)
  const paths = [
    `${ns}//secrets/db`, `${ns}/secrets/db/`, `${ns}/secrets/a%2Fb`, `${ns}/secrets/%2e%2e`,
    `${ns}/secrets/db%00`, `${ns}/secrets/%zz`, `${ns}/secrets/${'n'.repeat(5000)}`,
  ];
  for (const path of paths) {
    const reply = await send('GET', path, eve);
    assert.ok(reply.status === 400 || reply.status === 414, `${path.slice(0, 80)}: ${reply.status}`);
    assertNoSecret(reply.text, path);
    assert.ok(!reply.text.includes('n'.repeat(100)), 'the refusal does not echo the URL');
    assert.equal((await eventsFor(reply.auditID)).length, 1, path.slice(0, 80));
  }
  // Percent-encoding a name's letters is the same name: served as that object, authorized as it.
  const encoded = await send('GET', `${ns}/%73ecrets/d%62`, admin);
  assert.equal(encoded.status, 200);
  assert.equal((await send('GET', `${ns}/%73ecrets/d%62`, eve)).status, 403);
});

test('a KV API URL refused before routing is answered in the gateway\'s shape, audited, and changes nothing, for any caller', async () => {
  const before = await revision();
  const urls = ['/v3/kv/put?watch=maybe', '/v3/kv/put?a=1&a=2', '/v3/kv/%zz', '/v3//kv/put', `/v3/kv/${'n'.repeat(5000)}`];
  for (const caller of [admin, eve]) {
    for (const url of urls) {
      const reply = await send('POST', url, caller, { key: b64('refused'), value: b64(secretValue) });
      assert.ok(reply.status === 400 || reply.status === 414, `${url.slice(0, 80)}: ${reply.status}`);
      const body = JSON.parse(reply.text) as Record<string, unknown>;
      assert.deepEqual([typeof body.error, body.code, body.kind], ['string', 3, undefined], url.slice(0, 80));
      assertNoSecret(reply.text, url.slice(0, 80));
      const events = await eventsFor(reply.auditID);
      assert.equal(events.length, 1, url.slice(0, 80));
      assert.equal(events[0]!.annotations['authorization.k8s.io/decision'], 'forbid');
    }
  }
  assert.equal(await revision(), before);
});

test('write answers carry values only for callers who may get: an empty merge patch, a PUT, a JSON patch', async () => {
  const patch = await send('PATCH', `${ns}/secrets/db`, pat, {}, 'application/merge-patch+json');
  assert.equal(patch.status, 200, patch.text);
  assertNoSecret(patch.text, 'the answer to an empty merge patch');
  assert.match(patch.text, /coffer.dev\/data-redacted/);
  const jsonPatch = await send('PATCH', `${ns}/secrets/db`, pat, [{ op: 'add', path: '/metadata/labels', value: { tier: 'db' } }], 'application/json-patch+json');
  assert.equal(jsonPatch.status, 200, jsonPatch.text);
  assertNoSecret(jsonPatch.text, 'the answer to a JSON patch');
  const asAdmin = await send('GET', `${ns}/secrets/db`, admin);
  // Without its managedFields: a caller who may not get the Secret may not set them (403), as it cannot read them.
  const { metadata: { managedFields: _managed, ...metadata }, ...current } = JSON.parse(asAdmin.text) as { metadata: Record<string, unknown> };
  const put = await send('PUT', `${ns}/secrets/db`, pat, { ...current, metadata, data: { password: b64(secretValue) } });
  assert.equal(put.status, 200, put.text);
  assertNoSecret(put.text, 'the answer to a PUT');
});

test('a caller who may not get a Secret learns nothing by writing a guess: an immutable one refuses any, and an equal value still writes', async () => {
  const coffer = '/apis/coffer.dev/v1/namespaces/default/secrets';
  await grant(app, 'attack-rotator', [{ apiGroups: ['coffer.dev'], resources: ['secrets/rotate', 'secrets/rollback'], verbs: ['create'] }], 'rot');
  const rot = who('rot');
  const pin = '4821';
  for (const name of ['frozen', 'guessable']) {
    const created = await send('POST', `${ns}/secrets`, admin, { metadata: { name }, data: { pin: b64(pin) }, ...(name === 'frozen' ? { immutable: true } : {}) });
    assert.equal(created.status, 201, created.text);
  }
  const state = async (name: string) => {
    const versions = JSON.parse((await send('GET', `${coffer}/${name}/versions`, admin)).text) as { items: { stage?: string }[] };
    return { revision: await revision(), resourceVersion: (JSON.parse((await send('GET', `${ns}/secrets/${name}`, admin)).text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion, versions: versions.items.filter((v) => v.stage !== 'pending').length };
  };
  // The right guess and a wrong one, by every write these callers have: the answers are the same.
  const guesses = async (name: string, guess: string) => [
    await send('PATCH', `${ns}/secrets/${name}`, pat, { data: { pin: b64(guess) } }, 'application/merge-patch+json'),
    await send('PATCH', `${ns}/secrets/${name}?dryRun=All`, pat, { data: { pin: b64(guess) } }, 'application/merge-patch+json'),
    await send('POST', `${coffer}/${name}/rotate`, rot, { data: { pin: b64(guess) } }),
    await send('POST', `${coffer}/${name}/rotate`, rot, { data: { pin: b64(guess) }, stage: true }),
  ];
  const before = await state('frozen');
  for (const guess of [pin, '4820']) {
    for (const reply of await guesses('frozen', guess)) {
      assert.equal(reply.status, 403, `an immutable Secret refuses a blind write of ${guess === pin ? 'the right' : 'a wrong'} guess: ${reply.text}`);
      assert.match(reply.text, /immutable, and only a caller who may get it may write it/);
    }
  }
  assert.deepEqual(await state('frozen'), before, 'nothing written');
  for (const guess of [pin, '4820', pin]) {
    const was = await state('guessable');
    for (const reply of await guesses('guessable', guess)) assert.equal(reply.status, 200, reply.text);
    const now = await state('guessable');
    assert.notEqual(now.resourceVersion, was.resourceVersion, `guess ${guess}: the write happened whatever the value`);
    assert.equal(now.versions, Math.min(was.versions + 2, secretVersionsDefault), `guess ${guess}: the patch and the rotate each made a version`);
  }
});

test('a JSON patch reads the Secret only for a caller who may get it: copy, move and test are refused, whatever they name, and remove and replace of a data key, dry run or not', async () => {
  const jsonPatch = 'application/json-patch+json';
  const before = await revision();
  const sources = ['/data/password', '/data', '', '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', '/metadata/name'];
  const reads: unknown[][] = sources.flatMap((from) => [
    [{ op: 'add', path: '/metadata/annotations/leak', value: '' }, { op: 'copy', from, path: '/metadata/annotations/leak' }],
    [{ op: 'move', from, path: '/metadata/annotations/leak' }],
    [{ op: 'test', path: from, value: b64(secretValue) }],
    [{ op: 'test', path: from, value: 'a-wrong-guess' }],
  ]);
  // A remove or replace fails where its path is absent: on the data it would tell which keys exist.
  for (const key of ['password', 'absent-key']) {
    for (const path of [`/data/${key}`, `/stringData/${key}`, `/binaryData/${key}`]) reads.push([{ op: 'remove', path }], [{ op: 'replace', path, value: b64('x') }]);
  }
  for (const query of ['', '?dryRun=All']) {
    for (const operations of reads) {
      const answer = await send('PATCH', `${ns}/secrets/db${query}`, pat, operations, jsonPatch);
      const what = `${JSON.stringify(operations)}${query}`;
      assert.equal(answer.status, 403, `${what}: ${answer.text}`);
      assert.match(answer.text, /"reason":"Forbidden"/, what);
      assert.match(answer.text, /cannot get resource \\"secrets\\"/, what);
      assertNoSecret(answer.text, what);
      assert.equal((await eventsFor(answer.auditID)).length, 1, `${what}: one audit event`);
    }
  }
  assert.equal(await revision(), before, 'nothing was written');
  const listed = await send('GET', `${ns}/secrets`, eve);
  assertNoSecret(listed.text, 'the list after the attempts');
  // A caller who may get the Secret uses every operation, as in Kubernetes.
  const copied = await send('PATCH', `${ns}/secrets/db?dryRun=All`, admin, [{ op: 'test', path: '/data/password', value: b64(secretValue) }, { op: 'copy', from: '/data/password', path: '/data/copy' }], jsonPatch);
  assert.equal(copied.status, 200, copied.text);
});

test('server-side apply tells a caller with only patch rights nothing about a value: not by a conflict, not by the answer', async () => {
  const asAdmin = JSON.parse((await send('GET', `${ns}/secrets/db`, admin)).text) as { metadata: { managedFields?: unknown[] } };
  assert.ok((asAdmin.metadata.managedFields ?? []).length > 0, 'the Secret has managers whose fields an apply could contest');
  const applyAs = (value: string, query: string) => app.inject({
    method: 'PATCH', url: `${ns}/secrets/db?fieldManager=pat&${query}`, headers: { ...pat, 'content-type': 'application/apply-patch+yaml' },
    payload: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${value}\n`,
  });
  for (const query of ['dryRun=All', 'dryRun=All&force=true']) {
    const right = await applyAs(secretValue, query);
    const wrong = await applyAs('a-wrong-guess', query);
    // The right guess and a wrong one get the same answer, but for the object's own resourceVersion.
    assert.equal(right.statusCode, wrong.statusCode, `${query}: ${right.body} / ${wrong.body}`);
    assert.equal(right.body, wrong.body, query);
    assertNoSecret(right.body, `the answer to an apply (${query})`);
    assert.ok(!right.body.includes('managedFields'), 'a caller who may not get the Secret sees no managedFields');
    assertNoSecret(JSON.stringify(await eventsFor(right.headers['audit-id'] as string)), `the audit event of an apply (${query})`);
  }
  assert.equal((await applyAs(secretValue, 'dryRun=All')).statusCode, 409, 'without force, a contested field is a conflict, whatever the value');
});

test('a redacted list carries no value in kubectl\'s last-applied annotation', async () => {
  const list = await send('GET', `${ns}/secrets`, eve);
  assert.equal(list.status, 200);
  assert.match(list.text, /"db"/);
  assertNoSecret(list.text, 'a list for a caller without get');
  assert.ok(!list.text.includes('last-applied-configuration'), 'the annotation that embeds the object is dropped');
});

test('Secret values sent in any body shape never reach the audit file', async () => {
  const bodies: Array<[unknown, string]> = [
    [[{ op: 'replace', path: '/data/password', value: b64(secretValue) }], 'application/json-patch+json'],
    // Data keys named like fields of a body's shape (key, type, version) inside an operation's value.
    [[{ op: 'add', path: '/data', value: { password: b64(secretValue), key: b64(secretValue), type: b64(secretValue) } }], 'application/json-patch+json'],
    [[{ op: 'add', path: '/stringData', value: { password: secretValue, version: secretValue } }], 'application/json-patch+json'],
    [{ data: { password: b64(secretValue) } }, 'application/merge-patch+json'],
    [{ metadata: { annotations: { note: secretValue } } }, 'application/strategic-merge-patch+json'],
    [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: secretValue } }, 'application/apply-patch+yaml'],
  ];
  for (const [body, type] of bodies) {
    const query = type === 'application/apply-patch+yaml' ? '?fieldManager=auditor&force=true' : '';
    const reply = await send('PATCH', `${ns}/secrets/db${query}`, admin, body, type);
    assert.ok(reply.status < 400, reply.text);
    const events = await eventsFor(reply.auditID);
    assert.ok(events.length >= 1);
    assertNoSecret(JSON.stringify(events), `the audit event of a ${type} patch`);
  }
  const rotate = await send('POST', '/apis/coffer.dev/v1/namespaces/default/secrets/db/rotate', admin, { data: { password: b64(secretValue) } });
  assert.equal(rotate.status, 200, rotate.text);
  assertNoSecret(JSON.stringify(await eventsFor(rotate.auditID)), 'the audit event of a rotate');
});

test('ConfigMap values do not reach the audit file either', async () => {
  const reply = await send('POST', `${ns}/configmaps`, admin, { metadata: { name: 'cfg' }, data: { url: secretValue } });
  assert.equal(reply.status, 201, reply.text);
  assertNoSecret(JSON.stringify(await eventsFor(reply.auditID)), 'the audit event of a ConfigMap create');
});

test('a reader of the audit log cannot compare digests: the server digesting a guess (a dry run) gives another digest than the stored value\'s', async () => {
  const digestsOf = async (auditID: string | undefined): Promise<string[]> => JSON.stringify(await eventsFor(auditID)).match(/hmac-sha256:[0-9a-f:]+/g) ?? [];
  const stored = await send('POST', `${ns}/configmaps`, admin, { metadata: { name: 'pin' }, data: { pin: '4821' } });
  assert.equal(stored.status, 201, stored.text);
  const guess = await send('POST', `${ns}/configmaps?dryRun=All`, admin, { metadata: { name: 'guess' }, data: { g: '4821' } });
  assert.equal(guess.status, 201, guess.text);
  const [storedDigests, guessDigests] = [await digestsOf(stored.auditID), await digestsOf(guess.auditID)];
  assert.ok(storedDigests.length > 0 && guessDigests.length > 0, 'the policy records these bodies, digested');
  for (const digest of guessDigests) assert.ok(!storedDigests.includes(digest), `the guess's digest ${digest} is not the stored value's`);
});

test('the raw KV API does not reach the registry or Coffer\'s own keys, however the range is drawn', async () => {
  const key = (s: string) => b64(s);
  const zero = Buffer.from([0]).toString('base64');
  const attempts: Array<[string, unknown]> = [
    ['/v3/kv/range', { key: key('/registry/secrets/default/db') }],
    ['/v3/kv/range', { key: key('/'), range_end: zero }],
    ['/v3/kv/range', { key: key('/regisa'), range_end: key('/registrz') }],
    ['/v3/kv/range', { key: zero, range_end: zero }],
    ['/v3/kv/put', { key: key('/registry/clusterrolebindings/pwn'), value: key('{}') }],
    ['/v3/kv/deleterange', { key: key('/registry/'), range_end: key('/registry0') }],
    ['/v3/kv/txn', { compare: [{ key: key('/registry/secrets/default/db'), target: 'VALUE', result: 'EQUAL', value: key('x') }], success: [], failure: [] }],
    ['/v3/kv/txn', { compare: [], success: [{ request_range: { key: key('!'), range_end: zero } }], failure: [] }],
    ['/v3/watch', { create_request: { key: key('/registry/secrets/'), range_end: key('/registry/secrets0') } }],
  ];
  const before = await revision();
  for (const [path, body] of attempts) {
    for (const caller of [who('kvuser'), member]) {
      const reply = await send('POST', path, caller, body);
      assert.equal(reply.status, 403, `${path} ${JSON.stringify(body)}: ${reply.text}`);
      assertNoSecret(reply.text, path);
      assert.equal((await eventsFor(reply.auditID)).length, 1);
    }
  }
  assert.equal(await revision(), before, 'nothing was written');
  // Outside the reserved ranges the KV API works for whoever RBAC allows; masters may read the registry.
  assert.equal((await send('POST', '/v3/kv/put', who('kvuser'), { key: key('app/x'), value: key('1') })).status, 200);
  assert.equal((await send('POST', '/v3/kv/range', admin, { key: key('/registry/secrets/default/db') })).status, 200);
});

test('a member certificate reaches only member-to-member operations', async () => {
  assert.equal((await send('GET', '/apis/coffer.dev/v1/audit/events?local=true', member)).status, 200);
  assert.equal((await send('GET', '/readyz', member)).status, 200);
  for (const [method, path] of [['GET', '/apis/coffer.dev/v1/audit/events'], ['GET', `${ns}/secrets`], ['POST', '/v3/kv/range'], ['GET', '/api/v1/namespaces']] as const) {
    const reply = await send(method, path, member, method === 'POST' ? { key: b64('a') } : undefined);
    assert.equal(reply.status, 403, `${method} ${path}`);
    assert.equal((await eventsFor(reply.auditID)).length, 1);
  }
});

test('impersonation is never ignored: refused without the impersonate verb, honoured and recorded with it', async () => {
  const before = await revision();
  const attempt = await app.inject({
    method: 'POST', url: `${ns}/configmaps`,
    headers: { ...nobody, 'impersonate-user': 'admin', 'impersonate-group': 'system:masters', 'content-type': 'application/json' },
    payload: JSON.stringify({ metadata: { name: 'pwn' }, data: { a: '1' } }),
  });
  assert.equal(attempt.statusCode, 403);
  assert.match(attempt.json<{ message: string }>().message, /User "nobody" cannot impersonate resource "users"/);
  assert.equal(await revision(), before);
  const refusedEvents = await eventsFor(attempt.headers['audit-id'] as string);
  assert.equal(refusedEvents.length, 1);
  assert.equal(refusedEvents[0]!.user.username, 'nobody');

  // The administrator may impersonate: the request runs with the impersonated rights (none here).
  const asNobody = await app.inject({ method: 'GET', url: `${ns}/secrets/db`, headers: { ...admin, 'impersonate-user': 'nobody' } });
  assert.equal(asNobody.statusCode, 403, 'runs as nobody, who may not get Secrets');
  const events = await eventsFor(asNobody.headers['audit-id'] as string);
  assert.equal(events[0]!.user.username, 'admin');
  assert.deepEqual(events[0]!.impersonatedUser, { username: 'nobody', groups: ['system:authenticated'] });

  for (const headers of [{ 'impersonate-uid': '1' }, { 'impersonate-extra-scopes': 'x' }, { 'impersonate-group': 'devs' }]) {
    const bad = await app.inject({ method: 'GET', url: `${ns}/configmaps`, headers: { ...admin, ...headers } });
    assert.equal(bad.statusCode, 400, JSON.stringify(headers));
    assert.equal((await eventsFor(bad.headers['audit-id'] as string)).length, 1);
  }
});

test('an open watch ends when the binding that allowed it goes: a Kubernetes watch, a KV watch, a gRPC Watch stream', { timeout: 30_000 }, async () => {
  const kvRules = (verbs: string[]) => [{ nonResourceURLs: ['/v3/*', `${grpcPathPrefix}*`], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], resourceNames: ['lapse/'], verbs }];
  const watches: [name: string, rules: unknown[], request: { method: 'GET' | 'POST'; url: string; payload?: string | Buffer; headers?: Record<string, string> }][] = [
    ['lapse-k8s', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }], { method: 'GET', url: `${ns}/secrets?watch=true` }],
    ['lapse-kv', kvRules(['watch']), { method: 'POST', url: '/v3/watch', payload: JSON.stringify({ create_request: { key: b64('lapse/'), range_end: b64('lapse0') } }), headers: { 'content-type': 'application/json' } }],
    ['lapse-grpc', kvRules(['watch']), {
      method: 'POST', url: `${grpcPathPrefix}Watch/Watch`, headers: { 'content-type': 'application/grpc' },
      payload: frame(encode(messageType('WatchRequest'), { create_request: { key: Buffer.from('lapse/'), range_end: Buffer.from('lapse0') } })),
    }],
  ];
  for (const [name, rules, request] of watches) {
    // The binding that goes is the one granting the watch, or — for a caller watching as another user
    // (kubectl --as) — the one letting it impersonate that user, which still may watch.
    for (const impersonating of [false, true]) {
      const watcher = impersonating ? `${name}-as` : name;
      const user = impersonating ? `${name}-impersonator` : name;
      await grant(app, watcher, rules, watcher);
      if (impersonating) await grant(app, user, [{ apiGroups: [''], resources: ['users'], resourceNames: [watcher], verbs: ['impersonate'] }], user);
      const headers = { ...who(user), ...(impersonating ? { 'impersonate-user': watcher } : {}), ...request.headers };
      const response = await app.inject({ ...request, headers, payloadAsStream: true });
      assert.equal(response.statusCode, 200, `${user}: the watch is open`);
      const stream = response.stream();
      const ended = once(stream, 'end');
      stream.resume();
      const unbound = await send('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${user}`, admin);
      assert.equal(unbound.status, 200, unbound.text);
      // The delete answers once this member's policy no longer holds the binding; the stream ends with it.
      await ended;
      const again = await app.inject({ ...request, headers });
      const refusal = again.statusCode === 200 ? again.trailers['grpc-status'] : String(again.statusCode);
      assert.equal(refusal, request.url.includes('Watch/Watch') ? '7' : '403', `${user}: a new watch is refused (PERMISSION_DENIED over gRPC)`);
    }
  }
});

test('a caller watching as another user counts its watches against itself: it cannot use up that user\'s watchStreamsPerUserMax', { timeout: 60_000 }, async () => {
  await grant(app, 'quota-target', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] }], 'quota-target');
  await grant(app, 'quota-impersonator', [{ apiGroups: [''], resources: ['users'], resourceNames: ['quota-target'], verbs: ['impersonate'] }], 'quota-impersonator');
  const watch = async (headers: Record<string, string>) => {
    const response = await app.inject({ method: 'GET', url: `${ns}/configmaps?watch=true`, headers, payloadAsStream: true });
    const stream = response.stream();
    stream.resume();
    return { status: response.statusCode, close: () => stream.destroy() };
  };
  const asTarget = { ...who('quota-impersonator'), 'impersonate-user': 'quota-target' };
  const held = [];
  for (let i = 0; i < watchStreamsPerUserMax; i++) held.push(await watch(asTarget));
  assert.deepEqual(new Set(held.map((w) => w.status)), new Set([200]));
  const beyond = await watch(asTarget);
  assert.equal(beyond.status, 429, 'the impersonator holds its share');
  const own = await watch(who('quota-target'));
  assert.equal(own.status, 200, 'the user it impersonates still holds all of its own');
  for (const w of [...held, beyond, own]) w.close();
});
