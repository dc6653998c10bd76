// Secret versions over a real replica through app.inject(): numbered versions with their authors,
// the per-Secret limit, reading one version, rotate with given and generated values, rollback as a
// new version, RBAC on the subresources, MODIFIED events for watchers, and versions going with the
// Secret and with its namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { asUser, bindClusterRole, call, secret, startApi, type Api, type Body } from './harness.ts';

let api: Api;
before(async () => {
  api = await startApi();
});
after(async () => { await api.close(); });

const core = '/api/v1/namespaces/default/secrets';
const coffer = '/apis/coffer.dev/v1/namespaces/default/secrets';
const alice = asUser('alice', ['system:masters']);
const bob = asUser('bob', ['system:masters']);
const b64 = (text: string) => Buffer.from(text).toString('base64');
const text = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');

interface VersionItem { version: number; createdAt: string; createdBy: string; current: boolean }

async function versions(name: string): Promise<VersionItem[]> {
  const reply = await call(api.app, 'GET', `${coffer}/${name}/versions`);
  assert.equal(reply.status, 200, reply.body.message);
  return reply.body.items as unknown as VersionItem[];
}

async function put(name: string, data: Record<string, string>, who: Record<string, string>, annotations?: Record<string, string>) {
  const reply = await call(api.app, 'PUT', `${core}/${name}`, secret(name, data, annotations ? { metadata: { annotations } } : {}), who);
  assert.equal(reply.status, 200, reply.body.message);
}

test('every data update keeps a numbered version with who made it and when; the list carries no values', async () => {
  assert.equal((await call(api.app, 'POST', core, secret('db', { password: 'one' }), alice)).status, 201);
  await put('db', { password: 'two' }, bob);
  await put('db', { password: 'two' }, bob, { note: 'labels and annotations alone make no version' });
  await put('db', { password: 'three' }, alice);
  const list = await call(api.app, 'GET', `${coffer}/db/versions`);
  assert.equal(list.body.kind, 'SecretVersionList');
  const items = list.body.items as unknown as VersionItem[];
  assert.deepEqual(items.map((v) => [v.version, v.createdBy, v.current]), [[1, 'alice', false], [2, 'bob', false], [3, 'alice', true]]);
  for (const v of items) assert.match(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(!JSON.stringify(list.body).includes(b64('two')), 'the list holds no values');

  const two = await call(api.app, 'GET', `${coffer}/db/versions?version=2`);
  assert.equal(two.status, 200);
  assert.equal(two.body.kind, 'SecretVersion');
  assert.equal(text(two.body.data?.password), 'two');
  assert.equal((await call(api.app, 'GET', `${coffer}/db/versions?version=9`)).status, 404);
  assert.equal((await call(api.app, 'GET', `${coffer}/db/versions?version=x`)).status, 400);
  // The Secret itself never shows its history.
  const plain = await call(api.app, 'GET', `${core}/db`);
  assert.deepEqual(Object.keys(plain.body).sort(), ['apiVersion', 'data', 'kind', 'metadata', 'type']);
});

test('a version is kept when any one value changes, even to one of the same length; the same data in another key order keeps none', async () => {
  assert.equal((await call(api.app, 'POST', core, secret('pair', { user: 'app', password: 'hunter2' }), alice)).status, 201);
  await put('pair', { user: 'app', password: 'hunter3' }, alice);
  await put('pair', { password: 'hunter3', user: 'app' }, alice);
  await put('pair', { user: 'apq', password: 'hunter3' }, alice);
  assert.deepEqual((await versions('pair')).map((v) => v.version), [1, 2, 3]);
});

test('the coffer.dev/max-versions annotation limits the versions kept, oldest dropped first; bad values are refused', async () => {
  const annotations = { 'coffer.dev/max-versions': '3' };
  await call(api.app, 'POST', core, secret('capped', { k: 'v1' }, { metadata: { annotations } }));
  for (let i = 2; i <= 6; i += 1) await put('capped', { k: `v${i}` }, alice, annotations);
  assert.deepEqual((await versions('capped')).map((v) => v.version), [4, 5, 6]);
  assert.equal((await call(api.app, 'GET', `${coffer}/capped/versions?version=3`)).status, 404);

  // The default keeps 10.
  await call(api.app, 'POST', core, secret('uncapped', { k: 'v1' }));
  for (let i = 2; i <= 12; i += 1) await put('uncapped', { k: `v${i}` }, alice);
  assert.deepEqual((await versions('uncapped')).map((v) => v.version), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

  for (const bad of ['0', '101', 'ten']) {
    const reply = await call(api.app, 'PUT', `${core}/capped`, secret('capped', { k: 'v7' }, { metadata: { annotations: { 'coffer.dev/max-versions': bad } } }));
    assert.equal(reply.status, 422, bad);
  }
});

test('rotate with generated values gives the asked length and charset, different each time, as a new version', async () => {
  await call(api.app, 'POST', core, secret('gen', { user: 'app' }));
  const body = { generate: [{ key: 'password', length: 40, charset: 'alnum' }, { key: 'token', length: 64, charset: 'hex' }, { key: 'pin', length: 7, charset: 'ascii' }, { key: 'b', length: 24, charset: 'base64' }] };
  const first = await call(api.app, 'POST', `${coffer}/gen/rotate`, body, alice);
  assert.equal(first.status, 200, first.body.message);
  assert.equal(first.body.kind, 'Secret');
  const a = first.body.data!;
  assert.equal(text(a.user), 'app', 'keys not rotated are kept');
  assert.match(text(a.password), /^[A-Za-z0-9]{40}$/);
  assert.match(text(a.token), /^[0-9a-f]{64}$/);
  assert.match(text(a.pin), /^[!-~]{7}$/);
  assert.match(text(a.b), /^[A-Za-z0-9+/]{24}$/);
  const second = await call(api.app, 'POST', `${coffer}/gen/rotate`, body, bob);
  const b = second.body.data!;
  assert.notEqual(a.password, b.password);
  assert.notEqual(a.token, b.token);
  const stored = await call(api.app, 'GET', `${core}/gen`);
  assert.deepEqual(stored.body.data, b);
  assert.deepEqual((await versions('gen')).map((v) => [v.version, v.createdBy]), [[1, 'admin'], [2, 'alice'], [3, 'bob']]);

  const literal = await call(api.app, 'POST', `${coffer}/gen/rotate`, { data: { password: b64('chosen') } });
  assert.equal(text(literal.body.data?.password), 'chosen');

  for (const bad of [{}, { data: { a: b64('x') }, generate: [{ key: 'a' }] }, { generate: [{ key: 'a', length: 0 }] }, { generate: [{ key: 'a', charset: 'emoji' }] }]) {
    assert.equal((await call(api.app, 'POST', `${coffer}/gen/rotate`, bad)).status, 400, JSON.stringify(bad));
  }
  assert.equal((await call(api.app, 'POST', `${coffer}/gen/rotate`, { data: { a: 'not base64!' } })).status, 422);
  assert.equal((await call(api.app, 'POST', `${coffer}/missing/rotate`, { generate: [{ key: 'a' }] })).status, 404);
});

test('rotate sets a data key named __proto__ like any other key: given, generated, staged and promoted', async () => {
  // An own member only: data['__proto__'] of an object without one would read Object.prototype.
  const own = (data: Record<string, string> | undefined, key: string) => (data !== undefined && Object.hasOwn(data, key) ? data[key] : undefined);
  await call(api.app, 'POST', core, secret('proto', { user: 'app' }));
  const given = await call(api.app, 'POST', `${coffer}/proto/rotate`, `{"data":{"__proto__":"${b64('chosen')}"}}`, alice);
  assert.equal(given.status, 200, given.body.message);
  assert.deepEqual(Object.keys(given.body.data ?? {}).sort(), ['__proto__', 'user']);
  assert.equal(text(own(given.body.data, '__proto__')), 'chosen');
  assert.deepEqual((await call(api.app, 'GET', `${core}/proto`)).body.data, given.body.data);

  const generated = await call(api.app, 'POST', `${coffer}/proto/rotate`, { generate: [{ key: '__proto__', length: 12, charset: 'hex' }] }, alice);
  assert.equal(generated.status, 200, generated.body.message);
  assert.deepEqual(Object.keys(generated.body.data ?? {}).sort(), ['__proto__', 'user']);
  assert.match(text(own(generated.body.data, '__proto__')), /^[0-9a-f]{12}$/);

  const staged = await call(api.app, 'POST', `${coffer}/proto/rotate`, `{"stage":true,"data":{"__proto__":"${b64('next')}"}}`, alice);
  assert.equal(staged.status, 200, staged.body.message);
  assert.equal(text(own((await call(api.app, 'GET', `${coffer}/proto/versions?stage=pending`)).body.data, '__proto__')), 'next');
  const promoted = await call(api.app, 'POST', `${coffer}/proto/promote`, undefined, alice);
  assert.equal(promoted.status, 200, promoted.body.message);
  assert.equal(text(own(promoted.body.data, '__proto__')), 'next');
  assert.deepEqual((await versions('proto')).map((v) => v.version), [1, 2, 3, 4]);
});

test('rollback writes a new version holding the old data', async () => {
  await call(api.app, 'POST', core, secret('rb', { password: 'old' }));
  await put('rb', { password: 'new', extra: 'x' }, alice);
  const reply = await call(api.app, 'POST', `${coffer}/rb/rollback`, { version: 1 }, bob);
  assert.equal(reply.status, 200, reply.body.message);
  assert.deepEqual(reply.body.data, { password: b64('old') });
  assert.deepEqual((await versions('rb')).map((v) => [v.version, v.createdBy, v.current]), [[1, 'admin', false], [2, 'alice', false], [3, 'bob', true]]);
  const three = await call(api.app, 'GET', `${coffer}/rb/versions?version=3`);
  assert.deepEqual(three.body.data, { password: b64('old') });
  assert.equal((await call(api.app, 'POST', `${coffer}/rb/rollback`, { version: 7 })).status, 404);
  assert.equal((await call(api.app, 'POST', `${coffer}/rb/rollback`, {})).status, 400);
});

test('RBAC: secret-reader may not rotate, roll back or read versions; secret-rotator may', async () => {
  await call(api.app, 'POST', core, secret('guarded', { password: 'p' }));
  await bindClusterRole(api.app, 'reader-rita', 'secret-reader', 'rita');
  await bindClusterRole(api.app, 'rotator-ron', 'secret-rotator', 'ron');
  const rita = asUser('rita');
  const ron = asUser('ron');
  assert.equal((await call(api.app, 'POST', `${coffer}/guarded/rotate`, { generate: [{ key: 'password' }] }, rita)).status, 403);
  assert.equal((await call(api.app, 'POST', `${coffer}/guarded/rollback`, { version: 1 }, rita)).status, 403);
  assert.equal((await call(api.app, 'GET', `${coffer}/guarded/versions`, undefined, rita)).status, 403);
  const rotated = await call(api.app, 'POST', `${coffer}/guarded/rotate`, { generate: [{ key: 'password' }] }, ron);
  assert.equal(rotated.status, 200, rotated.body.message);
  assert.equal(text(rotated.body.data?.password).length, 32, 'the default length');
  assert.equal((await call(api.app, 'GET', `${coffer}/guarded/versions?version=1`, undefined, ron)).status, 200);
  assert.equal((await call(api.app, 'POST', `${coffer}/guarded/rollback`, { version: 1 }, ron)).status, 200);
  assert.equal(text((await call(api.app, 'GET', `${core}/guarded`)).body.data?.password), 'p');
});

test('RBAC: rollback and promote need get secrets/versions too — with get secrets, they would read an older value or the pending stage', async () => {
  await call(api.app, 'POST', core, secret('retired', { password: 'retired-value' }));
  await put('retired', { password: 'current-value' }, alice);
  const staged = await call(api.app, 'POST', `${coffer}/retired/rotate`, { data: { password: b64('pending-value') }, stage: true });
  assert.equal(staged.status, 200, staged.body.message);
  const kept = await versions('retired');
  const role = await call(api.app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'reader-rollbacker' },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }, { apiGroups: ['coffer.dev'], resources: ['secrets/rollback', 'secrets/promote'], verbs: ['create'] }],
  });
  assert.equal(role.status, 201, role.body.message);
  await bindClusterRole(api.app, 'reader-rollbacker-rick', 'reader-rollbacker', 'rick');
  const rick = asUser('rick');
  assert.equal((await call(api.app, 'GET', `${coffer}/retired/versions?version=1`, undefined, rick)).status, 403);
  for (const dryRun of ['', '?dryRun=All']) {
    const refused = await call(api.app, 'POST', `${coffer}/retired/rollback${dryRun}`, { version: 1 }, rick);
    assert.equal(refused.status, 403, refused.body.message);
    assert.match(String(refused.body.message), /cannot get resource "secrets\/versions" in API group "coffer.dev".*a rollback makes an older version's data current/);
    const promote = await call(api.app, 'POST', `${coffer}/retired/promote${dryRun}`, {}, rick);
    assert.equal(promote.status, 403, promote.body.message);
    assert.match(String(promote.body.message), /cannot get resource "secrets\/versions".*a promote makes the pending stage's data current/);
    for (const answer of [refused, promote]) {
      assert.equal(JSON.stringify(answer.body).includes(b64('retired-value')) || JSON.stringify(answer.body).includes(b64('pending-value')), false);
    }
  }
  assert.equal(text((await call(api.app, 'GET', `${core}/retired`, undefined, rick)).body.data?.password), 'current-value');
  assert.deepEqual(await versions('retired'), kept, 'nothing was written');
});

test('a watcher sees MODIFIED with the new data on rotate and on rollback', async () => {
  const created = await call(api.app, 'POST', core, secret('watched', { password: 'w1' }));
  const rv = created.body.metadata.resourceVersion;
  const response = await api.app.inject({ method: 'GET', url: `${core}?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3Dwatched`, headers: asUser('admin', ['system:masters']), payloadAsStream: true });
  const stream: Readable = response.stream();
  const events: { type: string; object: Body }[] = [];
  let buffered = '';
  let wake: (() => void) | undefined;
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      events.push(JSON.parse(buffered.slice(0, i)) as { type: string; object: Body });
      buffered = buffered.slice(i + 1);
    }
    wake?.();
  });
  const nextEvent = async () => {
    while (events.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
    return events.shift()!;
  };
  try {
    const rotated = await call(api.app, 'POST', `${coffer}/watched/rotate`, { generate: [{ key: 'password', length: 16 }] });
    const first = await nextEvent();
    assert.equal(first.type, 'MODIFIED');
    assert.deepEqual(first.object.data, rotated.body.data);
    assert.equal(first.object.metadata.resourceVersion, rotated.body.metadata.resourceVersion);
    await call(api.app, 'POST', `${coffer}/watched/rollback`, { version: 1 });
    const second = await nextEvent();
    assert.equal(second.type, 'MODIFIED');
    assert.equal(text(second.object.data?.password), 'w1');
  } finally {
    stream.destroy();
  }
});

test('deleting a Secret, or its namespace, deletes its versions', async () => {
  await call(api.app, 'POST', core, secret('gone', { password: 'a' }));
  await put('gone', { password: 'b' }, alice);
  assert.equal((await call(api.app, 'DELETE', `${core}/gone`)).status, 200);
  assert.equal((await call(api.app, 'GET', `${coffer}/gone/versions`)).status, 404);
  await call(api.app, 'POST', core, secret('gone', { password: 'fresh' }));
  assert.deepEqual((await versions('gone')).map((v) => v.version), [1], 'a new Secret of the same name starts again at 1');

  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'temp' } });
  await call(api.app, 'POST', '/api/v1/namespaces/temp/secrets', secret('s', { k: '1' }));
  await call(api.app, 'PUT', '/api/v1/namespaces/temp/secrets/s', secret('s', { k: '2' }));
  assert.equal((await call(api.app, 'DELETE', '/api/v1/namespaces/temp')).status, 200);
  const left = await api.backend.range(new TextEncoder().encode('/registry/coffer.dev/secretversions/temp/'), new TextEncoder().encode('/registry/coffer.dev/secretversions/temp0'), { linearizable: true });
  assert.equal(left.kvs.length, 0);
});
